/**
 * Every workspace declares what it imports: each bare import (`@deeplens/*` or third-party) in a
 * workspace's TypeScript must be named in that workspace's package.json (dependencies,
 * devDependencies or peerDependencies). Node built-ins, relative imports and the workspace's own
 * name need nothing.
 *
 * Every workspace names what it makes public: an import of `@deeplens/<workspace>/<subpath>`
 * anywhere in the repository must match a key of that workspace's package.json `exports`
 * (`"./<subpath>"`). TypeScript and Node refuse the rest too, but only as "cannot find module".
 *
 * Run by `npm run lint`; exits 1 listing each undeclared import or unexported subpath and a file
 * that uses it.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const skip = new Set(['node_modules', 'dist', '.stack', '.git', 'generated-models']);
const builtins = new Set(builtinModules);

type PackageJson = {
  name: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports?: string | Record<string, unknown>;
};

function readPackage(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|tsx|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `@scope/name/deep/path` → `@scope/name`; `name/deep` → `name`; undefined for what needs no declaration. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined;
  if (builtins.has(specifier) || builtins.has(specifier.split('/')[0]!)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The specifiers a file imports (static, dynamic, re-exports, type-only), as TypeScript reads them. */
function specifiersOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The package names a file imports. */
function importsOf(file: string): Set<string> {
  const names = new Set<string>();
  for (const specifier of specifiersOf(file)) {
    const name = packageOf(specifier);
    if (name) names.add(name);
  }
  return names;
}

/** Whether `subpath` (`.` or `./x/y`) matches a key of an `exports` field, `*` patterns included. */
function isExported(exportsField: PackageJson['exports'], subpath: string): boolean {
  if (exportsField === undefined) return true; // no `exports`: Node resolves any file
  if (typeof exportsField === 'string') return subpath === '.';
  return Object.keys(exportsField).some((key) => {
    const star = key.indexOf('*');
    if (star < 0) return key === subpath;
    const [prefix, suffix] = [key.slice(0, star), key.slice(star + 1)];
    return (
      subpath.length >= prefix.length + suffix.length &&
      subpath.startsWith(prefix) &&
      subpath.endsWith(suffix)
    );
  });
}

const problems: string[] = [];
const workspaces = new Map<string, { dir: string; pkg: PackageJson }>();
for (const workspace of readPackage(root).workspaces ?? []) {
  const dir = join(root, workspace);
  const pkg = readPackage(dir);
  workspaces.set(pkg.name, { dir: workspace, pkg });
  const declared = new Set([
    pkg.name,
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.devDependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ]);
  const missing = new Map<string, string>();
  for (const file of sourceFiles(dir)) {
    for (const name of importsOf(file)) {
      if (!declared.has(name) && !missing.has(name)) missing.set(name, relative(root, file));
    }
  }
  for (const [name, file] of [...missing].sort())
    problems.push(`${workspace}/package.json does not declare ${name} (imported by ${file})`);
}

for (const file of sourceFiles(root)) {
  for (const specifier of specifiersOf(file)) {
    const name = packageOf(specifier);
    const target = name === undefined ? undefined : workspaces.get(name);
    if (name === undefined || target === undefined) continue;
    const subpath = `.${specifier.slice(name.length)}`;
    if (!isExported(target.pkg.exports, subpath))
      problems.push(
        `${relative(root, file)} imports ${specifier}, which ${target.dir}/package.json does not export` +
          ` (add "${subpath}" to its "exports" if it is meant to be public)`,
      );
  }
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`checkDependencies: ${problems.length} undeclared import(s) or unexported subpath(s)`);
  process.exit(1);
}
console.log('checkDependencies: every workspace declares what it imports and imports only what is exported');
