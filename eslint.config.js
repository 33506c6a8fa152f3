// ESLint (flat config): typescript-eslint strict and stylistic, type-checked, on every TypeScript
// file of the tsconfig project; ESLint's recommended rules on the plain JavaScript (bench/,
// examples/, scripts/, test fixtures). Layout is Prettier's alone (eslint-config-prettier last).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', '.cache/', 'coverage/', 'grafana/', 'collector/']),
  {
    files: ['**/*.{js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.{ts,mts}'],
    extends: [js.configs.recommended, tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Background work is awaited, given a .catch that logs, or voided with a comment saying why.
      '@typescript-eslint/no-floating-promises': 'error',
      // The project compiles with noUncheckedIndexedAccess, so `!` is how it says "in range by
      // construction" (loop bounds, fixed tables indexed by a closed union, regex groups that
      // matched), mostly on hot paths. no-unnecessary-type-assertion, on, removes any `!` that
      // does nothing, so each one left narrows something.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers print the same in every locale and runtime; everything else goes through String().
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `() => span.end()` is a callback, not a value anyone reads.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Re-rejecting with what was caught, or with an AbortSignal's reason, keeps the user's error
      // as it is (the same latitude only-throw-error gives `throw`).
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // `env.X?.trim() || default` treats an empty variable as unset, on purpose.
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
      // The code's own convention: `string[]` for simple types, `Array<{ ... }>` for the rest.
      '@typescript-eslint/array-type': ['error', { default: 'array-simple' }],
      // `this: void` is how a method says it may be passed on detached (what unbound-method asks).
      '@typescript-eslint/no-invalid-void-type': ['error', { allowAsThisParameter: true }],
      // `() => {}` is the explicit no-op (an uninstall with nothing to undo, a diag level not
      // recorded); an empty method or function still has to say why in a comment.
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // `async () => 1` stands in for the user's async function: run() takes sync and async
      // functions and the tests cover both, so `async` without `await` is the point there.
      '@typescript-eslint/require-await': 'off',
    },
  },
  prettier,
);
