#!/usr/bin/env -S node --max-semi-space-size=64
// The larger young generation (64 MB semi-spaces, V8's default is 16) keeps short-lived window
// state from being promoted and collected as old objects: 15-30 % more events/s in bench/.
import './register.mjs';

await import('../cli/main.ts');
