// The type of board-bundle.generated.ts, which scripts/build-demo.ts writes (it is not committed):
// wrangler's [build] step runs the script before `wrangler dev` and `wrangler deploy`, and
// vitest.config.ts runs it before the Workers test pool starts.
/** The demo board's browser script: reference/demo/browser/board.ts and what it imports, bundled and minified. */
export declare const boardScript: string;
