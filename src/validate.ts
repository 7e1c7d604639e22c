/**
 * Argument checks for public entry points: validate once, at the door.
 * Each throws a `NetshardError` with Node's code and a message naming the argument.
 * Imports only `errors.ts`.
 */
import { NetshardError } from './errors.ts';

/**
 * Describes a value the way Node's ERR_INVALID_ARG_TYPE messages do (`received …`): `null`, `undefined`,
 * `an instance of Uint8Array`, `function f`, `type string ('abc')` (cut after 25 characters),
 * `type number (5)`, `type bigint (5n)`. Every "must be X, received Y" message in the project uses it.
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case 'function':
      return `function ${value.name}`;
    case 'object': {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object with a null prototype';
    }
    case 'string': {
      const text = value.length > 28 ? `${value.slice(0, 25)}...` : value;
      return text.includes("'") ? `type string (${JSON.stringify(text)})` : `type string ('${text}')`;
    }
    case 'bigint':
      return `type bigint (${value}n)`;
    case 'number':
      return `type number (${Object.is(value, -0) ? '-0' : String(value)})`;
    default:
      return `type ${typeof value} (${String(value)})`;
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is an integer, ERR_OUT_OF_RANGE unless `min <= value <= max`. */
export function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be of type number, received ${describeValue(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new NetshardError('ERR_OUT_OF_RANGE', `${name} must be an integer >= ${min} and <= ${max}, received ${value}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a boolean. */
export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be of type boolean, received ${describeValue(value)}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a string. */
export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be of type string, received ${describeValue(value)}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is an array with at least `minLength` elements (ERR_OUT_OF_RANGE otherwise). */
export function validateArray(value: unknown, name: string, minLength = 0): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be an array, received ${describeValue(value)}`);
  }
  if (value.length < minLength) {
    throw new NetshardError('ERR_OUT_OF_RANGE', `${name} must be an array of at least ${minLength} element(s), received ${value.length}`);
  }
}

/** Throws ERR_INVALID_ARG_VALUE unless `value` is one of `allowed`. */
export function validateOneOf<T extends string | number>(value: unknown, name: string, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, received ${describeValue(value)}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a plain object, ERR_INVALID_ARG_VALUE if it has a key not in `known`. */
export function validateObject(value: unknown, name: string, known: readonly string[]): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be an object, received ${describeValue(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name}.${key} is not a known option (known: ${known.join(', ')})`);
    }
  }
}
