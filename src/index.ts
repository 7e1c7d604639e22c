/**
 * The package's public surface (`import { Engine } from 'netshard'`): the engine and its parts, each
 * folder through its own index. Thread: see each export's documentation.
 */
export * from './errors.ts';
export * from './workers/index.ts';
export * as fdbased from './fdbased/index.ts';
export * as ring from './ring/index.ts';
export * as ports from './ports/index.ts';
export * as tcpip from './tcpip/index.ts';
