/**
 * StopFd over a real eventfd and socketpair: timeout, readable, wake, stop (sticky, from a handle as
 * another thread would), hang-up, and a closed fd.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StopFd, WaitResult, closeFds, openSocketPair, stopHandle, wakeHandle, syscalls as sys } from '../../src/fdbased/index.ts';

const Stop = suite('fdbased/stop-fd');

Stop('wait: timeout, then ready when the fd has data, and the eventfd is CLOEXEC and non-blocking', () => {
  const [a, b] = openSocketPair({ type: 'dgram' });
  const s = StopFd.create();
  try {
    assert.is(sys.fcntl(s.eventFd, sys.F_GETFD) & sys.FD_CLOEXEC, sys.FD_CLOEXEC);
    assert.is(sys.fcntl(s.eventFd, sys.F_GETFL) & sys.O_NONBLOCK, sys.O_NONBLOCK);
    assert.is(s.wait(b, 0), WaitResult.Timeout);
    assert.is(sys.write(a, Uint8Array.of(1), 1), 1);
    assert.is(s.wait(b, 1000), WaitResult.Ready);
  } finally {
    s.close();
    closeFds([a, b]);
  }
});

Stop('wake: the next wait returns Woken once, then sleeps again; stop is sticky and wins over data', () => {
  const [a, b] = openSocketPair({ type: 'dgram' });
  const s = StopFd.create();
  try {
    assert.is(s.wake(), 0);
    assert.is(wakeHandle(s.handle), 0, 'two wakes fold into one');
    assert.is(s.wait(b, 1000), WaitResult.Woken);
    assert.is(s.wait(b, 0), WaitResult.Timeout, 'the wake was consumed');
    assert.is(s.stopped, false);
    sys.write(a, Uint8Array.of(1), 1);
    assert.is(stopHandle(s.handle), 0); // what another thread does with the posted handle
    assert.is(s.stopped, true);
    assert.is(s.wait(b, 1000), WaitResult.Stopped);
    assert.is(s.wait(b, 1000), WaitResult.Stopped, 'sticky');
  } finally {
    s.close();
    s.close(); // idempotent
    closeFds([a, b]);
  }
});

Stop('hang-up: a closed seqpacket peer with nothing to read returns Hangup; with data, Ready first', () => {
  const [a, b] = openSocketPair({ type: 'seqpacket' });
  const s = StopFd.create();
  try {
    sys.write(a, Uint8Array.of(7), 1);
    sys.close(a);
    assert.is(s.wait(b, 1000), WaitResult.Ready, 'data wins over the hang-up');
    assert.is(s.wait(b, 1000, sys.POLLPRI), WaitResult.Hangup);
  } finally {
    s.close();
    sys.close(b);
  }
});

Stop('a closed fd: wait returns -EBADF', () => {
  const [a, b] = openSocketPair();
  closeFds([a, b]);
  const s = StopFd.create();
  try {
    assert.is(s.wait(b, 0), -sys.EBADF);
  } finally {
    s.close();
  }
});

Stop.run();
