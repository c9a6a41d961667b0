/** esbuild's text loader: an example cell's source, embedded in the bundle. */
declare module '*.seq' {
  const source: string;
  export default source;
}
