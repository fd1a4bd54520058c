/**
 * `target` seen through a Proxy with some members replaced. Its other
 * methods are bound to `target` itself, so a class's private fields (and
 * getters) keep working behind the Proxy. Used to hand a libp2p service a
 * component that behaves differently for it alone.
 */
export function withMembers<T extends object> (target: T, members: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get (t, prop, receiver) {
      if (Object.hasOwn(members, prop)) return members[prop as keyof T]
      const value = Reflect.get(t, prop, receiver)
      return typeof value === 'function' ? value.bind(t) : value
    }
  })
}
