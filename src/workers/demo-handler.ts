/**
 * The demo's reuseport request handler (an `AppHandler` module, loaded by each app worker): it echoes the
 * request behind one byte holding the instance's number, so the client can see which instance answered
 * each flow. The handler contract asks for a default export (`--handler` modules), hence the one default
 * export in src/.
 *
 * Thread: an app worker. Allocates the reply (edge code, per request, as any handler).
 */
import type { AppHandler } from './app-channel.ts';

/** Returns [instance, ...request]. */
const tagWithInstance: AppHandler = (message, _rinfo, context) => {
  const reply = new Uint8Array(message.byteLength + 1);
  reply[0] = context.instance;
  reply.set(message, 1);
  return reply;
};

export default tagWithInstance;
