// Which fleet member leads a partition: rendezvous (highest-random-weight) hashing over the live members. Every
// member computes the same answer from the same live set, with no coordination; when a member joins or leaves,
// only the partitions it wins (or won) change hands — about 1/N of them — where `hash % N` would move nearly all.
// The weight is FNV-1a (64-bit) over member id, topic and partition, finished with Murmur3's mixer: stable across processes, versions and
// platforms (unlike a seeded runtime hash), and cheap enough to compute per Metadata answer.

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

function fnv1a64(text: string): bigint {
  let h = FNV_OFFSET;
  const bytes = Buffer.from(text, 'utf8');
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

/** MurmurHash3's 64-bit finalizer: FNV alone mixes the last bytes poorly, and keys here differ only at the end. */
function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK64;
  k ^= k >> 33n;
  return k;
}

/** The weight of `member` for a key; the member with the highest weight wins the key. */
export function rendezvousWeight(member: string, key: string): bigint {
  // The separator cannot appear in a member id or a topic name ('\u0000' is not a legal topic character).
  return fmix64(fnv1a64(`${member}\u0000${key}`));
}

/** The winner for `key` among `members` (ties broken by member id, so the answer is total); null when empty. */
export function rendezvousOwner(members: readonly string[], key: string): string | null {
  let best: string | null = null;
  let bestWeight = -1n;
  for (const m of members) {
    const w = rendezvousWeight(m, key);
    if (w > bestWeight || (w === bestWeight && best !== null && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/** The key of a partition. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** The member that leads (topic, partition) among the live members. */
export function partitionOwner(members: readonly string[], topic: string, partition: number): string | null {
  return rendezvousOwner(members, partitionKey(topic, partition));
}
