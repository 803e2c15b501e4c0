'use strict';
const fs = require('node:fs');
const path = require('node:path');

exports.load = () => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'data', 'catalog.json'), 'utf8'));
