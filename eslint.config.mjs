// ESLint flat config. typescript-eslint's `recommended` (syntax only, fast) plus a few type-aware
// rules that catch the bugs a job queue cannot afford: un-awaited promises and promises passed
// where a callback's result is ignored. Full `recommended-type-checked` is left out for speed.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

// The layers of lib/, lowest first. A module may import its own layer and the layers below it,
// never one above: data flows job class -> registry -> store -> runner -> store -> retry, and the
// group and the operations layer sit on top of everything. lib/index.ts (the public entry) is
// exempt: it re-exports from every layer.
const FEATURES = [
  'scopes',
  'dependencies',
  'schedules',
  'limits',
  'hooks',
  'time-ranges',
  'history',
].map((f) => `./lib/${f}`);
const ABOVE_STORE = [
  './lib/job',
  './lib/extension.ts',
  './lib/tracing',
  './lib/runner',
  './lib/retry',
  './lib/queue',
  './lib/group',
  './lib/ops',
  './lib/sandbox',
  './lib/testing',
  ...FEATURES,
];
// Everything below the testing helper (lib/testing drives queue groups; nothing uses it).
const BELOW_TESTING = ABOVE_STORE.filter((p) => p !== './lib/testing').concat([
  './lib/store',
  './lib/timers',
  './lib/events.ts',
  './lib/validate.ts',
]);
const layer = (target, from, why) => ({ target, from, except: [], message: why });
const zones = [
  layer('./lib/types.ts', './lib', 'types.ts is the leaf module: it imports nothing of ours'),
  layer('./lib/errors.ts', './lib', 'errors.ts is a leaf module: it imports nothing of ours'),
  layer('./lib/timers', ABOVE_STORE.concat('./lib/store'), 'timers are a low-level utility'),
  layer('./lib/store', ABOVE_STORE, 'the store knows documents, not jobs, runners or features'),
  layer(
    './lib/job',
    ABOVE_STORE.filter((p) => p !== './lib/job' && p !== './lib/sandbox').concat('./lib/store'),
    'job classes and the registry come before the store',
  ),
  {
    target: './lib/job',
    from: './lib/sandbox',
    except: ['./sandbox-options.ts'],
    message: 'the registry knows only the sandbox options; sandboxes run job classes',
  },
  layer(
    './lib/sandbox',
    ['./lib/runner', './lib/queue', './lib/group', './lib/ops', './lib/testing', ...FEATURES],
    'sandboxes run job classes: they know the registry, not runners, queues or features',
  ),
  layer(BELOW_TESTING, './lib/testing', 'the testing helper sits on top: nothing uses it'),
  layer(
    './lib/retry',
    ['./lib/runner', './lib/queue', './lib/group', './lib/ops', ...FEATURES],
    'the retry handler comes after the runner',
  ),
  layer(
    './lib/extension.ts',
    ['./lib/runner', './lib/queue', './lib/group', './lib/ops', ...FEATURES],
    'extensions are the protocol the runner calls',
  ),
  layer(
    './lib/tracing',
    [
      './lib/store',
      './lib/runner',
      './lib/retry',
      './lib/queue',
      './lib/group',
      './lib/ops',
      ...FEATURES,
    ],
    'tracing wraps the runner and the queue: it knows job classes and documents only',
  ),
  layer(
    './lib/runner',
    ['./lib/queue', './lib/group', './lib/ops', './lib/sandbox', ...FEATURES],
    'the runner knows extensions, not features, sandboxes, queues or groups',
  ),
  layer(
    FEATURES.concat('./lib/queue'),
    ['./lib/group', './lib/ops'],
    'features and queues sit below the queue group',
  ),
  layer('./lib/group', './lib/ops', 'the operations layer sits on top of the group'),
  layer(['./jobs', './dependency'], ['./lib/group', './lib/ops'], 'built-ins sit below the group'),
];

export default [
  {
    ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/', 'bench/results/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // tsc's noFallthroughCasesInSwitch already checks this, and understands empty cases.
      'no-fallthrough': 'off',
      // Validators reject control characters (NUL in names) on purpose.
      'no-control-regex': 'off',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['lib/**/*.ts', 'jobs/**/*.ts', 'dependency/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones }],
      // Only the MongoDB store modules talk to the driver (types may name its classes).
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'mongodb',
              message: 'only lib/store/mongo/ imports the driver',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['lib/store/mongo/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // The public entry re-exports every layer, and nothing in lib/ but it reaches jobs/.
    files: ['lib/**/*.ts'],
    ignores: ['lib/index.ts'],
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            ...zones,
            layer(
              './lib',
              './jobs',
              'lib/ never imports the built-in jobs; features it needs live in lib/',
            ),
          ],
        },
      ],
    },
  },
  {
    // Plain JS here is tooling run by Node (configs, scripts).
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
];
