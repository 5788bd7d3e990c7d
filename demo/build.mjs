// Builds the page into dist/: index.html, app.js and app.css (the names the server embeds).
//   `npm run build` (or `node build.mjs`)   build into dist/
//   `node build.mjs --watch`                rebuild on change
//   `npm run check-dist` (`--check`)        build into a temporary directory and fail when the
//                                           committed dist/ differs (scripts/test.sh runs it)
//   `node build.mjs --outdir DIR`           build into DIR instead of dist/
// The output is deterministic: the same sources and the same esbuild (package-lock.json) give the
// same bytes, wherever it is built.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url)); // demo/; --outdir is relative to the cwd
const args = process.argv.slice(2);
const watch = args.includes('--watch');
const check = args.includes('--check');
const outdirArg = args.indexOf('--outdir');
const FILES = ['index.html', 'app.js', 'app.css'];

async function build(outdir, { log = true } = {}) {
  await mkdir(outdir, { recursive: true });
  const options = [
    { entryPoints: ['src/main.js'], outfile: path.join(outdir, 'app.js'), bundle: true, format: 'iife', target: ['es2020'] },
    { entryPoints: ['src/app.css'], outfile: path.join(outdir, 'app.css'), bundle: true },
  ].map((o) => ({ ...o, absWorkingDir: here, minify: true, legalComments: 'none', logLevel: log ? 'info' : 'warning', charset: 'utf8' }));
  if (watch) {
    for (const o of options) await (await esbuild.context(o)).watch();
  } else {
    await Promise.all(options.map((o) => esbuild.build(o)));
  }
  await copyFile(path.join(here, 'index.html'), path.join(outdir, 'index.html'));
}

if (check) {
  const tmp = await mkdtemp(path.join(tmpdir(), 'pairpad-dist-'));
  try {
    await build(tmp, { log: false });
    const stale = [];
    for (const f of FILES) {
      const fresh = await readFile(path.join(tmp, f));
      const committed = await readFile(path.join(here, 'dist', f)).catch(() => null);
      if (committed === null) stale.push(`dist/${f}: missing`);
      else if (!fresh.equals(committed)) {
        let at = 0;
        while (at < fresh.length && at < committed.length && fresh[at] === committed[at]) at++;
        stale.push(`dist/${f}: differs from a fresh build from byte ${at} (${committed.length} bytes committed, ${fresh.length} built)`);
      }
    }
    if (stale.length) {
      console.error('FATAL: demo/dist does not match demo/src (the server embeds demo/dist):');
      for (const s of stale) console.error(`  ${s}`);
      console.error('Rebuild it with `cd demo && npm ci && npm run build` and commit demo/dist.');
      process.exitCode = 1;
    } else {
      console.log(`demo/dist matches a fresh build of demo/src (${FILES.join(', ')})`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
} else {
  const outdir = outdirArg >= 0 ? args[outdirArg + 1] : 'dist';
  if (!outdir) throw new Error('--outdir needs a directory');
  const dir = outdirArg >= 0 ? path.resolve(outdir) : path.join(here, 'dist');
  await build(dir);
  for (const f of FILES) console.log(`${path.join(outdir, f)}: ${(await stat(path.join(dir, f))).size} bytes`);
}
