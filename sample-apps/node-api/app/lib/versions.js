'use strict';
// Debian's node-semver lives under /usr/share/nodejs, outside the app.
const semver = require('semver');

exports.check = (v) => ({ version: v, valid: semver.valid(v) !== null, satisfies: semver.satisfies(v, '^2.0.0') });
