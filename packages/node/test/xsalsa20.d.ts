/** The `xsalsa20` package (the WebAssembly cipher @libp2p/pnet uses), as the pnet tests use it */
declare module 'xsalsa20' {
  interface XSalsa20 {
    update(input: Uint8Array, output?: Uint8Array): Uint8Array
  }
  function xsalsa20 (nonce: Uint8Array, key: Uint8Array): XSalsa20
  export default xsalsa20
}
