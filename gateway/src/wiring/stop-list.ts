/**
 * The components a program started, to stop in reverse start order. Each stop runs even when an
 * earlier one failed (the failure is logged); `stopAll` empties the list, so it runs once.
 */
import type { Logger } from '../log.ts';

/** A stop function of one component. */
export type Stop = () => Promise<void> | void;

/** An empty list and the function that stops everything pushed onto it. */
export function stopList(log: Logger): { stops: Stop[]; stopAll: () => Promise<void> } {
  const stops: Stop[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error({ err }, 'stopping a component failed');
      }
    }
  };
  return { stops, stopAll };
}
