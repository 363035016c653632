// The test-bed pair is shared with other work (integration tests stop and restart brokers). A result measured
// across a broker restart is not comparable, so scenarios note the broker pids before and after and say so.
import { runningPid } from '../../scripts/kafka/testbed.ts';

export interface BrokerWatch {
  /** Null when both brokers kept their pid; otherwise a sentence for the summary. */
  restarted(): string | null;
  pids: { source: number | null; target: number | null };
}

export function watchBrokers(): BrokerWatch {
  const pids = { source: runningPid('source'), target: runningPid('target') };
  return {
    pids,
    restarted() {
      const changed = (['source', 'target'] as const).filter((c) => runningPid(c) !== pids[c]);
      return changed.length === 0 ? null : `⚠️ the ${changed.join(' and ')} broker restarted during this run (the pair is shared); treat these numbers with suspicion.`;
    },
  };
}
