/**
 * Where a session sends a want-block: the seed rule. A peer that holds
 * everything the session asked for so far (a rollout's origin) counts as
 * busier than it is while another peer also has the block.
 *
 * @internal
 */

/** What a session counts of a peer: want-blocks in flight, and its answers to our want-haves */
export interface PeerCounts {
  load: number
  haves: number
  dontHaves: number
}

/**
 * A peer that has said Have to at least this many of our want-haves and
 * DontHave to none holds everything we want so far: a seed, such as the
 * origin of a rollout.
 */
const SEED_MIN_HAVES = 8

/**
 * A seed counts as this many want-blocks busier than it is when another
 * peer also has the block. In a rollout the pullers that hold a block then
 * serve it and the origin sends what only it holds; between peers that are
 * all seeds nothing changes.
 */
const SEED_PENALTY = 3

/**
 * A peer's load as the choice of where to send a want-block sees it: a seed
 * counts SEED_PENALTY busier when `holders` (the peers that said Have for
 * the block) include another peer.
 *
 * @internal
 */
export function effectiveLoad (peer: PeerCounts, holders: number): number {
  return peer.load + (holders > 1 && isSeed(peer) ? SEED_PENALTY : 0)
}

/** A peer that has said Have to at least SEED_MIN_HAVES of the session's want-haves and DontHave to none */
export function isSeed (peer: Pick<PeerCounts, 'haves' | 'dontHaves'>): boolean {
  return peer.dontHaves === 0 && peer.haves >= SEED_MIN_HAVES
}
