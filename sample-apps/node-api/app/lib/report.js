'use strict';
const { table } = require('tiny-table');

exports.render = (items) => table(['id', 'name'], items.map((i) => [i.id, i.name]));
