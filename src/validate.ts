/**
 * Argument checks for public entry points: validate once, at the door.
 * Each throws a `NetshardError` with Node's code and a message naming the argument.
 * Imports only `errors.ts`.
 */
import { NetshardError } from './errors.ts';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `type string ('${value.length > 20 ? value.slice(0, 20) + '…' : value}')`;
  if (typeof value === 'object') return 'an object';
  return `type ${typeof value} (${String(value)})`;
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is an integer, ERR_OUT_OF_RANGE unless `min <= value <= max`. */
export function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be of type number, received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new NetshardError('ERR_OUT_OF_RANGE', `${name} must be an integer >= ${min} and <= ${max}, received ${value}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a boolean. */
export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be of type boolean, received ${describe(value)}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a string. */
export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be of type string, received ${describe(value)}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is an array with at least `minLength` elements (ERR_OUT_OF_RANGE otherwise). */
export function validateArray(value: unknown, name: string, minLength = 0): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be an array, received ${describe(value)}`);
  }
  if (value.length < minLength) {
    throw new NetshardError('ERR_OUT_OF_RANGE', `${name} must be an array of at least ${minLength} element(s), received ${value.length}`);
  }
}

/** Throws ERR_INVALID_ARG_VALUE unless `value` is one of `allowed`. */
export function validateOneOf<T extends string | number>(value: unknown, name: string, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, received ${describe(value)}`);
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a plain object, ERR_INVALID_ARG_VALUE if it has a key not in `known`. */
export function validateObject(value: unknown, name: string, known: readonly string[]): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new NetshardError('ERR_INVALID_ARG_TYPE', `${name} must be an object, received ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new NetshardError('ERR_INVALID_ARG_VALUE', `${name}.${key} is not a known option (known: ${known.join(', ')})`);
    }
  }
}
