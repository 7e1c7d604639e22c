import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addRef, allRefsHave, dropRef, effective, FLAG_MASK, flagRefs, Flags, MULTI_BIND_FLAG_MASK, sharedFlags, totalRefs,
} from '../../src/ports/index.ts';

const FlagsSuite = suite('ports/flags');
const { MostRecent: MR, LoadBalanced: LB, TupleOnly: TO } = Flags;

FlagsSuite('constants match gVisor flags.go', () => {
  assert.equal([MR, LB, TO, FLAG_MASK, MULTI_BIND_FLAG_MASK], [1, 2, 4, 7, 3]);
});

for (const c of [
  { flags: 0, want: 0 },
  { flags: MR, want: MR },
  { flags: LB, want: LB },
  { flags: MR | LB, want: LB }, // LoadBalanced wins
  { flags: MR | LB | TO, want: LB | TO },
  { flags: MR | TO, want: MR | TO },
]) {
  FlagsSuite(`effective(${c.flags}) = ${c.want}`, () => assert.is(effective(c.flags), c.want));
}

/** Each case: references to add (by flag combination), then what each query returns. */
for (const c of [
  { name: 'empty', refs: [], total: 0, shared: 7, mrRefs: 0, allMr: true },
  { name: 'one MR', refs: [MR], total: 1, shared: MR, mrRefs: 1, allMr: true },
  { name: 'MR+LB and MR', refs: [MR | LB, MR], total: 2, shared: MR, mrRefs: 2, allMr: true },
  { name: 'MR+LB and LB', refs: [MR | LB, LB], total: 2, shared: LB, mrRefs: 1, allMr: false },
  { name: 'none and MR', refs: [0, MR], total: 2, shared: 0, mrRefs: 1, allMr: false },
  { name: 'TO twice', refs: [TO, TO], total: 2, shared: TO, mrRefs: 0, allMr: false },
]) {
  FlagsSuite(`counter: ${c.name}`, () => {
    const counters = new Int32Array(12); // a slice at offset 2, guarded on both sides
    for (const f of c.refs) addRef(counters, 2, f);
    assert.is(totalRefs(counters, 2), c.total);
    assert.is(sharedFlags(counters, 2), c.shared);
    assert.is(flagRefs(counters, 2, MR), c.mrRefs);
    assert.is(flagRefs(counters, 2, 0), c.total); // every reference has the empty set
    assert.is(allRefsHave(counters, 2, MR), c.allMr);
    assert.equal([counters[0], counters[1], counters[10], counters[11]], [0, 0, 0, 0], 'wrote outside its 8 counts');
  });
}

FlagsSuite('dropRef drops one reference and refuses to go below zero', () => {
  const counters = new Int32Array(8);
  addRef(counters, 0, LB);
  assert.is(dropRef(counters, 0, MR), false);
  assert.is(counters[MR], 0);
  assert.is(dropRef(counters, 0, LB), true);
  assert.is(dropRef(counters, 0, LB), false);
  assert.is(totalRefs(counters, 0), 0);
  assert.is(sharedFlags(counters, 0), FLAG_MASK);
});

FlagsSuite.run();
