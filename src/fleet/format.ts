// `kmp fleet`: GET /v1/fleet as a table. A flip is done when every live member shows its version.
import { formatTable } from '../cli/format.ts';

interface WireFleetMember {
  member: string;
  nodeId: number;
  address: string;
  live: boolean;
  self: boolean;
  leaseAgeMs: number;
  appliedVersion: number;
  connections: number;
  inflight: number;
  fenced: boolean;
  leaving: boolean;
  partitionsLed: number;
}

export function formatFleet(value: unknown): string {
  const v = value as { member?: string; clusterId?: string; fenced?: boolean; members?: WireFleetMember[] };
  if (!Array.isArray(v?.members)) return `${JSON.stringify(value, null, 2)}\n`;
  const versions = new Set(v.members.filter((m) => m.live).map((m) => m.appliedVersion));
  const rows = v.members.map((m) => [
    `${m.member}${m.self ? ' *' : ''}`,
    String(m.nodeId),
    m.address,
    m.leaving ? 'leaving' : m.live ? (m.fenced ? 'fenced' : 'live') : 'gone',
    `${m.leaseAgeMs} ms`,
    String(m.appliedVersion),
    String(m.partitionsLed),
    String(m.connections),
    String(m.inflight),
  ]);
  const head = `fleet ${v.clusterId ?? '?'} — answered by ${v.member ?? '?'}${v.fenced ? ' (fenced)' : ''}; ` +
    (versions.size === 1 ? `every live member at version ${[...versions][0]}` : `live members at versions ${[...versions].sort().join(', ')} (a change is still being applied)`);
  return `${head}\n${formatTable(['MEMBER', 'NODE', 'ADDRESS', 'STATE', 'LEASE AGE', 'VERSION', 'LED', 'CONNS', 'IN-FLIGHT'], rows)}\n`;
}
