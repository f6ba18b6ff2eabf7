// Bundles each page script of web/frontend/pages/ with its npm packages into web/static/build/ (run by
// `make setup` through `npm run build`). The web app serves the result itself: no CDN, nothing fetched at run time.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pages = readdirSync(join(here, "pages")).filter((name) => name.endsWith(".js"));
const outdir = join(here, "..", "static", "build");
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: pages.map((name) => join(here, "pages", name)),
  outdir,
  bundle: true,
  format: "esm",
  minify: true,
  sourcemap: false,
  target: ["chrome100", "firefox100"],
  // bpmn.io's stylesheets carry their icon fonts; they are emitted beside the bundle.
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  logLevel: "warning",
});
console.log(`built ${pages.length} page script(s) into web/static/build/`);
