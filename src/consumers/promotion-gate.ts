// The consumer half of the promotion gate (issue #13 item 4): promoting a wave ends the write-back, after which
// the source no longer receives the wave's records, so a group that still reads them there would silently stop
// seeing new data. Promote is refused while any group with committed offsets for the wave's topics reads the
// source (or cannot be told apart), unless forced (the control plane records the override in the audit).
// The shape is the control plane's promote pre-flight hook: (batch) => { refusals, warnings }.
import type { PreflightResult } from '../../routing/control-plane.ts';
import type { ConsumerDeps } from './consumer-moves.ts';
import { listWaveConsumers } from './consumer-listing.ts';

export function consumerPromotionGate(deps: ConsumerDeps): (wave: string) => Promise<PreflightResult> {
  return async (wave) => {
    const view = await listWaveConsumers(deps, wave);
    const refusals: string[] = [];
    for (const g of view.groups) {
      if (g.readsFrom === 'target') continue;
      const lag = g.clusters.source?.lag ?? 0n;
      const why = g.readsFrom === 'both'
        ? 'has members on both clusters'
        : g.readsFrom === 'unknown'
          ? 'has committed offsets on both clusters that the sync map cannot compare'
          : `still reads the source (${g.clusters.source?.members ?? 0} member(s), lag ${lag})`;
      const next = g.next.ready ? 'it is ready to move' : g.next.recordsToGo !== null ? `not ready yet: ${g.next.recordsToGo} records to go` : 'not ready yet';
      refusals.push(`consumer group "${g.group}" ${why} for wave "${wave}"; ${next}: stop it and run kmp consumers move ${g.group} --wave ${wave}`);
    }
    return { refusals, warnings: [] };
  };
}
