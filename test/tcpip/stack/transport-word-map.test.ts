import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WordMap } from '../../../src/tcpip/stack/transport-word-map.ts';
import { AddressIds } from '../../../src/tcpip/stack/transport-address-ids.ts';

const Words = suite('tcpip/stack/transport-word-map');

/** mulberry32: seeded, so every run does the same operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const seed of [1, 2, 3]) {
  Words(`random set/delete/get agrees with a Map (seed ${seed}), through growth and backward-shift deletes`, () => {
    const rand = prng(seed);
    const map = new WordMap<number>(seed * 7919);
    const model = new Map<string, number>();
    // Few distinct keys so sets, overwrites and deletes of present keys all happen often; negative words too.
    const word = (): number => (Math.floor(rand() * 6) - 2) | 0;
    for (let op = 0; op < 20000; op++) {
      const k = [word(), word(), Math.floor(rand() * 20) - 1 << 30, word()] as const;
      const name = k.join(',');
      const r = rand();
      if (r < 0.5) {
        map.set(k[0], k[1], k[2], k[3], op);
        model.set(name, op);
      } else if (r < 0.8) {
        assert.is(map.delete(k[0], k[1], k[2], k[3]), model.delete(name), `delete ${name} at op ${op}`);
      } else {
        assert.is(map.get(k[0], k[1], k[2], k[3]), model.get(name), `get ${name} at op ${op}`);
      }
      assert.is(map.size, model.size);
    }
    for (const [name, value] of model) {
      const [a, b, c, d] = name.split(',').map(Number) as [number, number, number, number];
      assert.is(map.get(a, b, c, d), value);
    }
    let seen = 0;
    map.forEach((value, a, b, c, d) => { seen++; assert.is(model.get([a, b, c, d].join(',')), value); });
    assert.is(seen, model.size);
    assert.ok(map.capacity >= 2 * map.size && map.capacity >= 16);
  });
}

Words('grows from 16 slots and keeps every key', () => {
  const map = new WordMap<string>(0);
  assert.is(map.capacity, 16);
  for (let i = 0; i < 1000; i++) map.set(i, -i, i * 65536, 7, `v${i}`);
  assert.is(map.size, 1000);
  assert.ok(map.capacity >= 2000);
  for (let i = 0; i < 1000; i++) assert.is(map.get(i, -i, i * 65536, 7), `v${i}`);
  assert.is(map.get(1000, -1000, 1000 * 65536, 7), undefined);
  for (let i = 0; i < 1000; i += 2) assert.ok(map.delete(i, -i, i * 65536, 7));
  for (let i = 0; i < 1000; i++) assert.is(map.get(i, -i, i * 65536, 7), i % 2 ? `v${i}` : undefined);
});

Words('AddressIds: wildcard is 0, ids are reference-counted and reused', () => {
  const ids = new AddressIds(5);
  const bytes = new Uint8Array(32);
  const view = new DataView(bytes.buffer);
  assert.is(ids.find(view, 0), 0, ':: is id 0');
  assert.is(ids.acquire(0, 0, 0, 0), 0);
  bytes[16] = 0x20; bytes[31] = 1; // 2000::1 at offset 16
  assert.is(ids.find(view, 16), -1, 'unknown address');
  const words = [view.getInt32(16), view.getInt32(20), view.getInt32(24), view.getInt32(28)] as const;
  const id = ids.acquire(...words);
  assert.ok(id > 0);
  assert.is(ids.acquire(...words), id);
  assert.is(ids.find(view, 16), id);
  assert.is(ids.size, 1);
  ids.release(...words);
  assert.is(ids.find(view, 16), id, 'one user left');
  ids.release(...words);
  assert.is(ids.find(view, 16), -1);
  assert.is(ids.size, 0);
  ids.release(...words); // unknown: ignored
  assert.is(ids.acquire(1, 2, 3, 4), id, 'freed id reused');
});

Words.run();
