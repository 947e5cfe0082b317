import { type EventEnvelope } from '@gantry/contracts';

/**
 * Splits a batch (in store order) into per-stream lanes, each in version order. Lanes are
 * published concurrently, each one event at a time: an event is only sent once the previous
 * event of its stream is acknowledged, so a failure part-way can never leave a later version of
 * a stream on the bus ahead of an earlier one when the batch is retried (invariant 3).
 */
export const laneByStream = (events: readonly EventEnvelope[]): EventEnvelope[][] => {
  const lanes = new Map<string, EventEnvelope[]>();
  for (const event of events) {
    const lane = lanes.get(event.metadata.streamId);
    if (lane) lane.push(event);
    else lanes.set(event.metadata.streamId, [event]);
  }
  return [...lanes.values()];
};
