import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetshardError, serializeError, deserializeError } from '../src/errors.ts';
import { validateArray, validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../src/validate.ts';

const Validate = suite('validate');

function throwsWith(fn: () => void, code: string, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, NetshardError);
    assert.is((err as NetshardError).code, code);
    assert.match((err as NetshardError).message, message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

Validate('validateInteger: type and range', () => {
  validateInteger(5, 'n', 0, 10);
  throwsWith(() => validateInteger('5', 'options.mtu'), 'ERR_INVALID_ARG_TYPE', /^options.mtu must be of type number, received type string \('5'\)$/);
  throwsWith(() => validateInteger(1.5, 'n', 0, 10), 'ERR_OUT_OF_RANGE', /n must be an integer >= 0 and <= 10, received 1.5/);
  throwsWith(() => validateInteger(11, 'n', 0, 10), 'ERR_OUT_OF_RANGE', /received 11/);
});

Validate('validateBoolean / validateString', () => {
  validateBoolean(true, 'b');
  validateString('x', 's');
  throwsWith(() => validateBoolean(1, 'b'), 'ERR_INVALID_ARG_TYPE', /b must be of type boolean, received type number \(1\)/);
  throwsWith(() => validateString(null, 's'), 'ERR_INVALID_ARG_TYPE', /s must be of type string, received null/);
});

Validate('validateArray: type and minimum length', () => {
  validateArray([1], 'fds', 1);
  throwsWith(() => validateArray({}, 'options.fds', 1), 'ERR_INVALID_ARG_TYPE', /options.fds must be an array, received an instance of Object/);
  throwsWith(() => validateArray([], 'options.fds', 1), 'ERR_OUT_OF_RANGE', /options.fds must be an array of at least 1 element\(s\), received 0/);
});

Validate('validateOneOf / validateObject', () => {
  validateOneOf('readv', 'mode', ['readv', 'recvmmsg']);
  throwsWith(() => validateOneOf('x', 'mode', ['readv', 'recvmmsg']), 'ERR_INVALID_ARG_VALUE', /mode must be one of "readv", "recvmmsg", received type string \('x'\)/);
  validateObject({ a: 1 }, 'options', ['a']);
  throwsWith(() => validateObject({ b: 1 }, 'options', ['a']), 'ERR_INVALID_ARG_VALUE', /options.b is not a known option/);
  throwsWith(() => validateObject([], 'options', ['a']), 'ERR_INVALID_ARG_TYPE', /options must be an object, received an instance of Array/);
});

Validate('errors cross threads as { code, message } and are rebuilt', () => {
  const e = new NetshardError('EADDRINUSE', 'port 80 is in use', { errno: 98, syscall: 'bind' });
  const back = deserializeError(structuredClone(serializeError(e)));
  assert.instance(back, NetshardError);
  assert.is(back.code, 'EADDRINUSE');
  assert.is(back.errno, 98);
  assert.is(back.syscall, 'bind');
  assert.is(serializeError(new Error('boom')).code, 'ERR_NETSHARD_INTERNAL');
});

Validate.run();
