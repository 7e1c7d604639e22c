/**
 * What bench/micro/pipeline.ts and its worker threads (pipeline-worker.ts) share: the control words,
 * the commands and the reports. Imports nothing; runs nothing.
 */

/** Shared control words (Int32Array over `control`). */
export const GO = 0; // run number: a worker starts run r when GO becomes r
export const STOP = 1; // run number: the producer / scalers stop run r when STOP becomes r
export const PRODUCED_RUN = 2; // the producer stores r here when run r is over…
export const PRODUCED = 3; // …after storing how many descriptors it published in it
export const SAMPLE = 4; // sample sequence number: main bumps it 10 times a second while sampling
export const CONTROL_WORDS = 8;
/** Most heap samples one run keeps (100 s at 10 per second). */
export const MAX_SAMPLES = 1000;

/** What main passes each worker at spawn. */
export interface PipelineWorkerData {
  role: 'producer' | 'consumer' | 'scaler';
  control: SharedArrayBuffer;
  /** producer, consumer: the descriptor ring and the completion ring. */
  ring?: SharedArrayBuffer;
  completion?: SharedArrayBuffer;
  /** producer, scaler: the pool to fill (made by main, disowned, adopted here), and whether to mix frame kinds. */
  pool?: SharedArrayBuffer;
  mix?: boolean;
  seed?: number;
}

/** One run, as main sends it. */
export interface RunCommand {
  type: 'run';
  run: number;
  mode: 'parse' | 'bare';
}
/** Asks the producer to drain completions and report its pool; ends nothing. */
export interface FinishCommand {
  type: 'finish';
}

/** What a worker reports after a run. */
export interface RunReport {
  role: PipelineWorkerData['role'];
  /** process.hrtime at the start and end of the run, in ns (one clock for every thread). */
  start: number;
  end: number;
  /** Descriptors published (producer), consumed (consumer) or built (scaler). */
  count: number;
  /** XOR of every hash word published / consumed: equal on both sides when nothing was lost or torn. */
  xor: number;
  sum: number;
  drops: number;
  /** Times this thread spun 2000 times in vain and napped 50 µs (it waited for the other side). */
  naps: number;
  /** used_heap_size at each sample, in order. */
  heap: number[];
  /** The new space's space_used_size at each sample. */
  newSpace: number[];
  /** Garbage collections of this thread that started during the run: ms after its start, and kind. */
  gcs: { at: number; kind: number }[];
}
/** What the producer reports on `finish`. */
export interface FinishReport {
  free: number;
  frameCount: number;
  doubleFrees: number;
  badFrees: number;
}

