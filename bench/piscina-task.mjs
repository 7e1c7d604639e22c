// The task bench/control-plane.ts runs through piscina: an empty job, so the figure is piscina's own cost
// (plain JavaScript: piscina starts its threads from a file name, without tsx's loader).
export default function emptyTask() {
  return 0;
}
