// Builds the page into dist/: index.html, app.js and app.css (the names the server embeds).
// `npm run build` (or `node build.mjs`); `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, stat } from 'node:fs/promises';

const watch = process.argv.includes('--watch');
await mkdir('dist', { recursive: true });

const options = [
  { entryPoints: ['src/main.js'], outfile: 'dist/app.js', bundle: true, format: 'iife', target: ['es2020'] },
  { entryPoints: ['src/app.css'], outfile: 'dist/app.css', bundle: true },
].map((o) => ({ ...o, minify: true, legalComments: 'none', logLevel: 'info', charset: 'utf8' }));

if (watch) {
  for (const o of options) await (await esbuild.context(o)).watch();
} else {
  await Promise.all(options.map((o) => esbuild.build(o)));
}
await copyFile('index.html', 'dist/index.html');
for (const f of ['index.html', 'app.js', 'app.css']) {
  console.log(`dist/${f}: ${(await stat(`dist/${f}`)).size} bytes`);
}
