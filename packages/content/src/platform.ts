/**
 * The choice of one image from an image index for a platform, as `docker
 * pull` and `podman pull` make it. The platform grammar
 * (`os/architecture[/variant]`) is `@provenir/interface`'s.
 */

import { formatPlatform } from '@provenir/interface'
import type { Descriptor, ImageIndex, Platform } from './oci.js'
import type { PlatformSpec } from '@provenir/interface'

/** The default variant of an architecture, as containerd normalises it */
function defaultVariant (architecture: string): string | undefined {
  return architecture === 'arm64' ? 'v8' : undefined
}

/**
 * The manifest of `index` for `wanted`: the first entry with the same os and
 * architecture, and the same variant when `wanted` names one (arm64's
 * missing variant counts as v8). Entries without a platform never match.
 * Returns undefined when none does.
 */
export function selectPlatform (index: ImageIndex, wanted: PlatformSpec): Descriptor | undefined {
  return index.manifests.find(entry => {
    const p = entry.platform
    if (p == null || p.os !== wanted.os || p.architecture !== wanted.architecture) return false
    if (wanted.variant == null) return true
    return (p.variant ?? defaultVariant(p.architecture)) === wanted.variant
  })
}

/** The platforms an index offers, for an error message: `linux/amd64, linux/arm64/v8` */
export function platformsOf (index: ImageIndex): string {
  const names = index.manifests.filter(m => m.platform != null).map(m => formatPlatform(m.platform as Platform))
  return names.length > 0 ? names.join(', ') : 'none named'
}
