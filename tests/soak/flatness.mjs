// Whether a memory series is flat after the first epoch: its end is within 10% (and at least
// 16 MB, for small series that move by allocator noise) of its level once the first epoch and its
// evaluation were done (the first sample inside epoch 2).

const SLACK_BYTES = 16 * 1024 * 1024;

/** { start, afterEpoch1, end, max, flat } of `samples[*][key]` (bytes); `epoch` marks progress. */
export function flatness(samples, key) {
  const values = samples.map((sample) => sample[key]);
  const settled = samples.find((sample) => sample.epoch > 1) ?? samples.at(-1);
  const afterEpoch1 = settled[key];
  const end = values.at(-1);
  const max = Math.max(...samples.filter((sample) => sample.epoch > 1).map((sample) => sample[key]));
  const allowed = afterEpoch1 + Math.max(0.1 * afterEpoch1, SLACK_BYTES);
  return { start: values[0], afterEpoch1, end, max, flat: end <= allowed && max <= allowed + SLACK_BYTES };
}
