// ESLint (flat config) for the extension and the page library: `make test` runs it.
import js from "@eslint/js";
import globals from "globals";

const webextension = { ...globals.browser, ...globals.webextensions, ...globals.serviceworker };

export default [
  { ignores: ["node_modules/**", "build/**", ".venv/**", "extension/lib/protocol.js"] },
  js.configs.recommended,
  {
    files: ["extension/**/*.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "script", globals: webextension },
    rules: { "no-unused-vars": ["error", { argsIgnorePattern: "^_", caughtErrors: "none" }] },
  },
  {
    files: ["extension/lib/**/*.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: globals.browser },
  },
  {
    files: ["extension/tests/**/*.mjs"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: globals.node },
  },
  {
    files: ["examples/platform/static/js/**/*.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: globals.browser },
  },
];
