/**
 * The daemon's trust routes: what `provenir sign`, `attest` and `verify`
 * need. Signing happens in the CLI, which holds the keystore file; the daemon
 * only checks and stores what it is given.
 *
 * - `GET /api/v0/image/inspect?digest=` the image's record, manifest and config
 * - `POST /api/v0/image/statements` `{ digest, statements: [envelope, ...] }` attach signed statements
 * - `GET /api/v0/image/statements?digest=` the statements attached to an image
 * - `POST /api/v0/image/verify` `{ digest, policy?, reference? }` check an image against a policy
 */

import { getBlockBytes, ImageNotFoundError } from '@provenir/content'
import { InvalidConfigError, InvalidParametersError } from '@provenir/interface'
import { checkEnvelope, encodeEnvelope, parsePolicy } from '@provenir/trust'
import { CID } from 'multiformats/cid'
import { digestParam } from './content-routes.js'
import { bodyObject, optionalReferenceParam } from './rpc-params.js'
import type { RpcRoute } from './rpc-server.js'
import type { ImageRecord } from '@provenir/content'
import type { ImageStatement } from '@provenir/node'
import type { Envelope, TrustPolicy, VerificationReport } from '@provenir/trust'

/** Largest image config the inspect route returns, in bytes */
export const MAX_INSPECT_CONFIG_BYTES = 4 * 1024 * 1024

/** Largest body of a statements or verify request: a few envelopes of at most 1 MiB each */
export const RPC_TRUST_BODY_LIMIT = 16 * 1024 * 1024

/** A statement as the RPC API shows it */
export interface StatementInfo {
  cid: string
  predicateType: string
  signers: string[]
  /** The image's digests it names */
  subjects: string[]
  envelope: Envelope
}

export interface ImageInspectResponse {
  record: ImageRecord
  manifest: unknown
  config: unknown
}

export interface StatementsResponse {
  digest: string
  statements: StatementInfo[]
}

export interface VerifyResponse {
  digest: string
  report: VerificationReport
  statements: StatementInfo[]
}

export function statementInfo (s: ImageStatement): StatementInfo {
  return {
    cid: s.cid.toString(),
    predicateType: s.predicateType,
    signers: s.signers,
    subjects: s.subjects,
    envelope: JSON.parse(new TextDecoder().decode(s.bytes))
  }
}

/** A policy given in a request body: validated as policy.json is */
export function policyParam (value: unknown): TrustPolicy | undefined {
  if (value === undefined) return undefined
  return parsePolicy(value as object, { source: 'the request\'s "policy"' })
}

function queryDigest (query: unknown): string {
  return digestParam((query as { digest?: unknown } | undefined)?.digest)
}

export const TRUST_ROUTES: readonly RpcRoute[] = Object.freeze([
  {
    method: 'GET',
    url: '/api/v0/image/inspect',
    async handler ({ node, request, signal }): Promise<ImageInspectResponse> {
      const digest = queryDigest(request.query)
      if (node.blockstore == null || node.images == null) throw new InvalidConfigError('this daemon\'s node has no blockstore, so it holds no images')
      const record = await node.images.get(digest, { signal })
      if (record == null) throw new ImageNotFoundError(`this node holds no image ${digest}`)
      const read = async (i: number): Promise<unknown> => {
        const blob = record.blobs[i]
        if (blob.size > MAX_INSPECT_CONFIG_BYTES) throw new InvalidParametersError(`blob ${blob.digest} is ${blob.size} bytes, over the ${MAX_INSPECT_CONFIG_BYTES} bytes inspect reads`)
        const bytes = await getBlockBytes(node.blockstore!, CID.parse(blob.root), { signal })
        return JSON.parse(new TextDecoder().decode(bytes))
      }
      return { record, manifest: await read(0), config: await read(1) }
    }
  },
  {
    method: 'GET',
    url: '/api/v0/image/statements',
    async handler ({ node, request, signal }): Promise<StatementsResponse> {
      const digest = queryDigest(request.query)
      const statements = await node.statements(digest, { signal })
      return { digest, statements: statements.map(statementInfo) }
    }
  },
  {
    method: 'POST',
    url: '/api/v0/image/statements',
    bodyLimit: RPC_TRUST_BODY_LIMIT,
    async handler ({ node, request, signal }): Promise<StatementsResponse> {
      const body = bodyObject({ request }, ['digest', 'statements'])
      const digest = digestParam(body.digest)
      if (!Array.isArray(body.statements) || body.statements.length === 0) {
        throw new InvalidParametersError('"statements" must be a non-empty array of DSSE envelopes')
      }
      const envelopes = body.statements.map((value, i) => {
        try {
          return encodeEnvelope(checkEnvelope(value))
        } catch (err: any) {
          err.message = `statements[${i}]: ${err.message}`
          throw err
        }
      })
      const added = await node.addStatements(digest, envelopes, { signal })
      return { digest, statements: added.map(statementInfo) }
    }
  },
  {
    method: 'POST',
    url: '/api/v0/image/verify',
    bodyLimit: RPC_TRUST_BODY_LIMIT,
    async handler ({ node, request, signal }): Promise<VerifyResponse> {
      const body = bodyObject({ request }, ['digest', 'policy', 'reference'])
      const digest = digestParam(body.digest)
      const policy = policyParam(body.policy)
      const reference = optionalReferenceParam(body.reference)
      if (policy == null && node.trustPolicy == null) {
        throw new InvalidParametersError('this daemon has no trust policy (<repo>/policy.json); give one with --policy')
      }
      const { report, statements } = await node.verify(digest, {
        signal,
        ...(policy != null ? { policy } : {}),
        ...(reference != null ? { reference } : {})
      })
      return { digest, report, statements: statements.map(statementInfo) }
    }
  }
])
