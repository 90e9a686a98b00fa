/**
 * The README's TypeScript blocks as modules the compiler checks for real.
 *
 * Blocks are fragments: they use free variables (`q`, `group`, `uri`...) and names that an
 * earlier block imported or declared. One shared prelude, an HTML comment in the README that
 * starts with `<!-- readme-prelude`, supplies them: it holds only imports and ambient
 * declarations (`declare const q: Queue;`), and each block gets the prelude entries for the
 * names it does not declare itself, so a block's own imports and declarations always win.
 * A block preceded by `<!-- readme: standalone -->` gets no prelude: it must compile as pasted
 * into a file of its own (the Quick start).
 *
 * Each block is compiled as an ES module (`.mts`, so top-level `await` works) with the project's
 * tsconfig.json, the package's subpath exports mapped to their sources (`drover` to
 * lib/index.ts...), and two settings relaxed because fragments show values without using them:
 * noUnusedLocals and noUnusedParameters.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** One ```ts block of a Markdown file. */
export interface CodeBlock {
  /** 1-based line of the block's first code line in the file. */
  line: number;
  /** The nearest heading above the block. */
  heading: string;
  code: string;
  /** Marked `<!-- readme: standalone -->`: compiled without the prelude. */
  standalone: boolean;
}

/** The TypeScript blocks of a Markdown file and its prelude (empty when it has none). */
export interface MarkdownCode {
  blocks: CodeBlock[];
  prelude: string;
}

const FENCE = /^```(\S*)\s*$/;
const MARKER = /^<!--\s*readme:\s*(\S+)\s*-->$/;
const PRELUDE_START = '<!-- readme-prelude';
const TS_LANGS = new Set(['ts', 'typescript']);

/** Splits Markdown into its TypeScript blocks (with their markers) and the prelude comment. */
export function parseMarkdown(markdown: string): MarkdownCode {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let prelude: string | undefined;
  let heading = '';
  let markers: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i];
    const marker = MARKER.exec(text);
    const fence = FENCE.exec(text);
    if (marker) {
      if (marker[1] !== 'standalone') throw new Error(`line ${i + 1}: unknown marker ${text}`);
      markers.push(marker[1]);
    } else if (text.startsWith(PRELUDE_START)) {
      if (prelude !== undefined) throw new Error(`line ${i + 1}: a second readme-prelude`);
      const end = lines.findIndex((l, j) => j >= i && l.includes('-->'));
      if (end < 0) throw new Error(`line ${i + 1}: readme-prelude is not closed`);
      prelude = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (fence) {
      const close = lines.findIndex((l, j) => j > i && l.trimEnd() === '```');
      if (close < 0) throw new Error(`line ${i + 1}: code block is not closed`);
      if (TS_LANGS.has(fence[1])) {
        const code = lines.slice(i + 1, close).join('\n');
        blocks.push({ line: i + 2, heading, code, standalone: markers.includes('standalone') });
      } else if (markers.length > 0) {
        throw new Error(`line ${i + 1}: a marker before a block that is not TypeScript`);
      }
      markers = [];
      i = close;
    } else if (text.trim() !== '') {
      if (markers.length > 0) throw new Error(`line ${i + 1}: a marker not followed by a block`);
      if (text.startsWith('#')) heading = text.replace(/^#+\s*/, '');
    }
  }
  if (markers.length > 0) throw new Error('a marker at the end, before no block');
  return { blocks, prelude: prelude ?? '' };
}

/** The names a statement declares at module level (imports included). */
function statementNames(statement: ts.Statement): string[] {
  if (ts.isImportDeclaration(statement)) {
    const clause = statement.importClause;
    if (!clause) return [];
    const names = clause.name ? [clause.name.text] : [];
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) names.push(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) {
      for (const e of bindings.elements) names.push(e.name.text);
    }
    return names;
  }
  if (ts.isVariableStatement(statement)) {
    return statement.declarationList.declarations.flatMap((d) => bindingNames(d.name));
  }
  if (
    (ts.isFunctionDeclaration(statement) ||
      ts.isClassDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isEnumDeclaration(statement) ||
      ts.isModuleDeclaration(statement) ||
      ts.isImportEqualsDeclaration(statement)) &&
    statement.name &&
    ts.isIdentifier(statement.name)
  ) {
    return [statement.name.text];
  }
  return [];
}

function bindingNames(name: ts.BindingName): string[] {
  if (ts.isIdentifier(name)) return [name.text];
  return name.elements.flatMap((e) => (ts.isOmittedExpression(e) ? [] : bindingNames(e.name)));
}

/** Every name a module declares at its top level. */
export function declaredNames(code: string): Set<string> {
  const source = ts.createSourceFile('block.mts', code, ts.ScriptTarget.Latest, true);
  return new Set(source.statements.flatMap(statementNames));
}

function isAmbient(statement: ts.Statement): boolean {
  if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) return true;
  const modifiers = ts.canHaveModifiers(statement) ? ts.getModifiers(statement) : undefined;
  return modifiers?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword) ?? false;
}

/**
 * Checks that a prelude holds only what it may: named or side-effect imports and ambient
 * declarations, one name per statement. Anything else (code that runs, a default import)
 * would let a block lean on more than declared names. Returns the problems found.
 */
export function preludeProblems(prelude: string): string[] {
  const source = ts.createSourceFile('prelude.mts', prelude, ts.ScriptTarget.Latest, true);
  const problems: string[] = [];
  for (const s of source.statements) {
    const where = `prelude line ${source.getLineAndCharacterOfPosition(s.getStart()).line + 1}`;
    if (ts.isImportDeclaration(s)) {
      const clause = s.importClause;
      if (
        clause &&
        (clause.name || !clause.namedBindings || !ts.isNamedImports(clause.namedBindings))
      ) {
        problems.push(`${where}: only named imports ({ a, b }) or side-effect imports`);
      }
    } else if (!isAmbient(s)) {
      problems.push(`${where}: only imports and ambient (declare) declarations`);
    } else if (statementNames(s).length !== 1) {
      problems.push(`${where}: one name per declaration`);
    }
  }
  return problems;
}

/** The prelude entries for a block that declares `declared` itself. */
export function preludeFor(prelude: string, declared: ReadonlySet<string>): string {
  const source = ts.createSourceFile('prelude.mts', prelude, ts.ScriptTarget.Latest, true);
  const kept: string[] = [];
  for (const s of source.statements) {
    if (ts.isImportDeclaration(s) && s.importClause?.namedBindings) {
      const bindings = s.importClause.namedBindings as ts.NamedImports;
      const elements = bindings.elements.filter((e) => !declared.has(e.name.text));
      if (elements.length === 0) continue;
      const typeOnly = s.importClause.isTypeOnly ? 'type ' : '';
      const list = elements.map((e) => e.getText(source)).join(', ');
      kept.push(`import ${typeOnly}{ ${list} } from ${s.moduleSpecifier.getText(source)};`);
    } else if (!statementNames(s).some((n) => declared.has(n))) {
      kept.push(s.getText(source));
    }
  }
  return kept.join('\n');
}

/** The module compiled for a block: its prelude entries, then the block as written. */
export interface BlockModule {
  text: string;
  /** Lines before the block's first line: the prelude entries. */
  preludeLines: number;
}

/**
 * The module for a block. The prelude goes first, where a file's imports and declarations are:
 * after the code, a class declared there would have its base resolved through the block's
 * statements (the checker looks for assertion calls in them) and could find itself circular.
 */
export function blockModule(block: CodeBlock, prelude: string): BlockModule {
  const entries = block.standalone ? '' : preludeFor(prelude, declaredNames(block.code));
  const head = entries === '' ? '' : `${entries}\n`;
  return { text: head + block.code, preludeLines: head.split('\n').length - 1 };
}

/** One entry point of the package: its import specifier, source file and built file. */
export interface PackageEntry {
  specifier: string;
  source: string;
  built: string;
}

/** `drover`, `drover/management`...: the package.json `exports`, with their sources. */
export function packageEntries(root: string): PackageEntry[] {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { types?: string; default?: string }>;
  };
  const entries: PackageEntry[] = [];
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string' || !target.types || !target.default) continue;
    const specifier = key === '.' ? pkg.name : `${pkg.name}/${key.replace(/^\.\//, '')}`;
    const source = target.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts');
    if (!existsSync(path.join(root, source))) throw new Error(`${specifier}: no source ${source}`);
    entries.push({
      specifier,
      source: path.join(root, source),
      built: path.join(root, target.default),
    });
  }
  return entries;
}

/** The project's compiler options, with the entry points mapped to their sources. */
export function blockCompilerOptions(root: string): ts.CompilerOptions {
  const configPath = path.join(root, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (config.error)
    throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const paths = Object.fromEntries(packageEntries(root).map((e) => [e.specifier, [e.source]]));
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    // Fragments show values and parameters without using them.
    noUnusedLocals: false,
    noUnusedParameters: false,
    // A README block sees Node's globals, not the test runner's.
    types: ['node'],
    paths,
  };
}

/** A program over in-memory modules (absolute `.mts` paths to their text) and the project. */
export function createModulesProgram(
  modules: ReadonlyMap<string, string>,
  options: ts.CompilerOptions,
): ts.Program {
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => modules.has(f) || fileExists.call(host, f);
  host.readFile = (f) => modules.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const text = modules.get(f);
    if (text === undefined) return getSourceFile.call(host, f, language, ...rest);
    return ts.createSourceFile(f, text, language, true);
  };
  return ts.createProgram([...modules.keys()], options, host);
}

/** One syntax or type error: its 1-based line in the module and `TScode message`. */
export interface ModuleError {
  line: number;
  message: string;
}

/** The syntax and type errors of one module. */
export function moduleErrors(program: ts.Program, file: string): ModuleError[] {
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`${file} is not in the program`);
  const diagnostics = [
    ...program.getSyntacticDiagnostics(source),
    ...program.getSemanticDiagnostics(source),
  ];
  return diagnostics.map((d) => {
    const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
    const message = `TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    return { line: line + 1, message };
  });
}

/**
 * Emits a module (compiled with `options`) as JavaScript that runs from anywhere: an ES module
 * whose bare imports are file URLs (the package's entries at their built files, other packages
 * as the project resolves them). `strings` replaces the string value of the named properties
 * (`{ db: 'test_db' }`); the returned counts say how many were replaced.
 */
export function emitRunnable(
  root: string,
  file: string,
  code: string,
  options: ts.CompilerOptions,
  strings: Record<string, string> = {},
): { js: string; replaced: Record<string, number> } {
  const entries = new Map(packageEntries(root).map((e) => [e.specifier, e.built]));
  const resolve = createRequire(path.join(root, 'package.json')).resolve;
  const url = (spec: string): string =>
    spec.startsWith('.') || spec.startsWith('node:')
      ? spec
      : pathToFileURL(entries.get(spec) ?? resolve(spec)).href;
  const replaced: Record<string, number> = Object.fromEntries(
    Object.keys(strings).map((k) => [k, 0]),
  );
  const rewrite: ts.TransformerFactory<ts.SourceFile> = (context) => (source) => {
    const f = context.factory;
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const spec = f.createStringLiteral(url(node.moduleSpecifier.text));
        return f.updateImportDeclaration(
          node,
          node.modifiers,
          node.importClause,
          spec,
          node.attributes,
        );
      }
      if (
        ts.isPropertyAssignment(node) &&
        ts.isIdentifier(node.name) &&
        Object.hasOwn(strings, node.name.text) &&
        ts.isStringLiteral(node.initializer)
      ) {
        replaced[node.name.text] += 1;
        return f.updatePropertyAssignment(
          node,
          node.name,
          f.createStringLiteral(strings[node.name.text]),
        );
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(source, visit) as ts.SourceFile;
  };
  const program = createModulesProgram(new Map([[file, code]]), {
    ...options,
    noEmit: false,
    outDir: undefined,
  });
  const errors = moduleErrors(program, file);
  if (errors.length > 0) {
    const list = errors.map((e) => `${e.line}: ${e.message}`).join('\n');
    throw new Error(`${file} does not compile:\n${list}`);
  }
  let js: string | undefined;
  const result = program.emit(
    program.getSourceFile(file),
    (name, text) => {
      if (name.endsWith('.mjs')) js = text;
    },
    undefined,
    false,
    { after: [rewrite] },
  );
  if (result.emitSkipped || js === undefined) throw new Error(`${file}: nothing emitted`);
  return { js, replaced };
}
