/**
 * Formats, protocol ids and bounds of the naming package. Every bound the
 * package enforces is here, so that `doc/LIMITS.md` can list them.
 */

import { MAX_PAYLOAD_BYTES } from '@provenir/trust'

/** DSSE payloadType of a repository document */
export const REPO_DOCUMENT_PAYLOAD_TYPE = 'application/vnd.provenir.repository.v1+json'

/** DSSE payloadType of a DHT pointer record */
export const REPO_POINTER_PAYLOAD_TYPE = 'application/vnd.provenir.repository-pointer.v1+json'

/** DSSE payloadType of a link-name claim, signed by the claiming UserId */
export const NAME_CLAIM_PAYLOAD_TYPE = 'application/vnd.provenir.name-claim.v1+json'

/** DSSE payloadType of a link-name binding, signed by the registry's NodeId key */
export const NAME_BINDING_PAYLOAD_TYPE = 'application/vnd.provenir.name-binding.v1+json'

/** First path component of a pointer record's DHT key: `/provenir-repo/<UserId>/<repo>` */
export const REPO_KEY_NAMESPACE = 'provenir-repo'

/** First path component of a binding's DHT key: `/provenir-name/<registry NodeId>/<name>` */
export const NAME_KEY_NAMESPACE = 'provenir-name'

/**
 * Longest NodeId string accepted anywhere (a key, a reference, a binding, a
 * TXT record), checked before it is decoded: base58 decoding takes time
 * quadratic in the length, and a canonical Ed25519 NodeId is 52 characters
 * (62 in its CID forms)
 */
export const MAX_NODE_ID_LENGTH = 128

/**
 * Longest DHT key of a binding, `/provenir-name/<NodeId>/<name>`, in bytes,
 * checked before the key is decoded
 */
export const MAX_NAME_KEY_BYTES = 256

/** Longest registry named in a reference or config: a NodeId, or a domain (253 characters by RFC 1035) */
export const MAX_REGISTRY_REF_LENGTH = 253

/** The registry protocol */
export const NAMES_PROTOCOL = '/provenir/names/1.0.0'

/** Largest repository document (the encoded envelope), in bytes */
export const MAX_DOCUMENT_BYTES = 1024 * 1024

/** Largest repository document payload, in bytes (the trust package's DSSE payload bound) */
export const MAX_DOCUMENT_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES

/** Most tags in one repository document */
export const MAX_TAGS = 10_000

/** Most images in one repository document */
export const MAX_IMAGES = 4096

/** Most blobs of one image: a manifest, a config and content's MAX_IMAGE_LAYERS (1024) layers */
export const MAX_BLOBS_PER_IMAGE = 1026

/** Most statement (signature / attestation envelope) CIDs per image */
export const MAX_STATEMENTS_PER_IMAGE = 64

/** Largest pointer record (the encoded envelope), in bytes */
export const MAX_POINTER_BYTES = 10 * 1024

/** Largest binding or claim (the encoded envelope), in bytes */
export const MAX_BINDING_BYTES = 8 * 1024

/** Largest message on `/provenir/names/1.0.0`, in bytes */
export const MAX_NAMES_MESSAGE_BYTES = 16 * 1024

/** Time for one registry request and its answer, in ms */
export const NAMES_TIMEOUT = 10_000

/** Most inbound `/provenir/names/1.0.0` streams at once, per connection */
export const NAMES_MAX_INBOUND_STREAMS = 32

/** Most `/provenir/names/1.0.0` requests a registry serves at once, over all connections; a stream past it is reset */
export const NAMES_MAX_SERVING = 64

/** How far a claim's time may be from the registry's clock, in ms */
export const CLAIM_MAX_SKEW = 5 * 60_000

/** How many claim nonces a registry remembers, against replay */
export const CLAIM_NONCE_CACHE = 10_000

/** Default lifetime of a repository document and its pointer, in ms (48 h, as IPNS records) */
export const DEFAULT_RECORD_LIFETIME = 48 * 60 * 60_000

/** Longest lifetime accepted from a signer, in ms (one year): a record is renewed, not frozen */
export const MAX_RECORD_LIFETIME = 366 * 24 * 60 * 60_000

/** Time for a DNS TXT lookup, in ms */
export const DNS_TIMEOUT = 5_000

/** Time for a DHT pointer lookup, in ms */
export const DHT_GET_TIMEOUT = 30_000

/** Most TXT strings read from one `_provenir.<domain>` lookup */
export const MAX_TXT_RECORDS = 64

/** Longest repository name (one path component) */
export const MAX_REPO_LENGTH = 128

/** Longest link name */
export const MAX_NAME_LENGTH = 63

/** Longest tag (OCI distribution: 128) */
export { MAX_TAG_LENGTH } from '@provenir/interface'

/** How often an owner republishes each repository it publishes, in ms (as IPNS: 4 h for 48 h records) */
export const DEFAULT_REPUBLISH_INTERVAL = 4 * 60 * 60_000

/** Time for one publish (document block and DHT put), in ms */
export const PUBLISH_TIMEOUT = 60_000

/** Most link-name pins in a naming config (`naming.pins`) */
export const MAX_NAMING_PINS = 10_000

/** Most registries in a naming config (`naming.registries`) */
export const MAX_NAMING_REGISTRIES = 32

/** Most admin bindings of a registry this node serves (`naming.registry.bindings`) */
export const MAX_REGISTRY_BINDINGS = 10_000

/** Longest registry as config names it (NodeId, multiaddr or domain) */
export const MAX_REGISTRY_SPEC_LENGTH = 1024

/** Most DNS servers in a naming config (`naming.dns.servers`) */
export const MAX_DNS_SERVERS = 8

/** Longest DNS timeout a naming config accepts (`naming.dns.timeoutMs`), in ms */
export const MAX_NAMING_DNS_TIMEOUT_MS = 60_000

/** How long the naming service keeps a resolution (reference -> manifest digest), in ms, unless `cacheTtlMs` says otherwise */
export const DEFAULT_NAMING_CACHE_TTL_MS = 30_000

/** Longest `cacheTtlMs`, in ms */
export const MAX_NAMING_CACHE_TTL_MS = 60 * 60_000

/** Most resolutions the naming service caches */
export const NAMING_CACHE_MAX_ENTRIES = 1000

/** Time to fetch a repository document block (local, else the swarm), and to put a registry binding in the DHT, in ms */
export const NAMING_DOCUMENT_TIMEOUT_MS = 30_000

/** Time to read the current seq of a repository from the DHT before its first publish, in ms */
export const NAMING_SEQ_SYNC_TIMEOUT_MS = 15_000

/** How long a restarted naming service waits for DHT peers before it republishes what it published, in ms */
export const NAMING_STARTUP_REPUBLISH_WAIT_MS = 60_000

/** A DHT lookup by a node with an empty routing table (only its own records can answer), in ms */
export const NAMING_LONELY_DHT_TIMEOUT_MS = 2_000

/** Most repositories one naming service publishes and republishes */
export const NAMING_MAX_PUBLISHED = 10_000

/**
 * Keystore name of the node's own key: a namespace key only where the caller
 * allows it (the gateway publishes pushes under the key that signed them)
 */
export const NODE_KEY_NAME = 'self'

/** Most registry bindings kept for the DHT while the node has no DHT peer (the oldest is dropped; it is still served by the registry) */
export const MAX_UNSENT_BINDINGS = 10_000
