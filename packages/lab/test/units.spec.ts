/**
 * The lab's pure parts: units, names, fault specs, metrics text, prefixes.
 * The lab itself (namespaces, links, daemons) is tested end to end in
 * `test/lab/lab.slow.spec.ts`.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isError } from '@provenir/interface'
import { hostIndex, hostNames, labPrefix, labSubnet } from '../src/names.js'
import { parseFault } from '../src/faults.js'
import { prometheusValue } from '../src/metrics.js'
import { prefixesOverlap } from '../src/network.js'
import { formatRate, parseBytes, parseDuration, parseRate, parseTrigger } from '../src/units.js'

describe('lab units', () => {
  it('parses rates in tc units, a bare number as Mbit/s', () => {
    assert.equal(parseRate('100mbit'), 100e6)
    assert.equal(parseRate('1gbit'), 1e9)
    assert.equal(parseRate('1.5Gbit/s'), 1.5e9)
    assert.equal(parseRate('1500kbit'), 1.5e6)
    assert.equal(parseRate('250'), 250e6)
    assert.equal(formatRate(100e6), '100 Mbit/s')
    assert.equal(formatRate(2e9), '2 Gbit/s')
  })

  it('refuses rates out of range, unknown units and long input with InvalidParametersError', () => {
    for (const bad of ['0mbit', '200gbit', '10furlongs', 'fast', '1'.repeat(40) + 'mbit', '', '-5mbit']) {
      assert.throws(() => parseRate(bad), (err: Error) => isError(err, 'InvalidParametersError'), bad)
    }
  })

  it('parses sizes (decimal and binary) and durations', () => {
    assert.equal(parseBytes('20MB'), 20e6)
    assert.equal(parseBytes('64MiB'), 64 * 2 ** 20)
    assert.equal(parseBytes('1000'), 1000)
    assert.equal(parseDuration('5s'), 5000)
    assert.equal(parseDuration('250ms'), 250)
    assert.equal(parseDuration('2m'), 120_000)
    assert.deepEqual(parseTrigger('40MB'), { bytes: 40e6 })
    assert.deepEqual(parseTrigger('1.5s'), { ms: 1500 })
    assert.throws(() => parseTrigger('5'), (err: Error) => isError(err, 'InvalidParametersError'))
    assert.throws(() => parseDuration('5MB'), (err: Error) => isError(err, 'InvalidParametersError'))
  })
})

describe('lab names', () => {
  it('prefixes every object with pvlab<id>- and keeps interface names within 15 characters', () => {
    const h = hostNames(99, 200)
    assert.deepEqual(h, { name: 'h200', ns: 'pvlab99-h200', veth: 'pvlab99-h200', vethNs: 'pvlab99-h200n', address: '10.77.99.210' })
    assert.ok(h.vethNs.length <= 15)
    assert.deepEqual(hostNames(3, 0), { name: 'origin', ns: 'pvlab3-origin', veth: 'pvlab3-o', vethNs: 'pvlab3-on', address: '10.77.3.2' })
    assert.equal(labPrefix(1), 'pvlab1-')
    assert.ok(!'pvlab10-h1'.startsWith(labPrefix(1)), 'lab 1\'s prefix does not match lab 10\'s objects')
    assert.equal(labSubnet(7), '10.77.7.0/24')
    assert.throws(() => labPrefix(100), (err: Error) => isError(err, 'InvalidParametersError'))
  })

  it('finds hosts by name and refuses others with HostNotFoundError', () => {
    assert.equal(hostIndex('origin', 4), 0)
    assert.equal(hostIndex('h4', 4), 4)
    for (const bad of ['h0', 'h5', 'h', 'H1', 'host1', 'h01x', '../h1']) {
      assert.throws(() => hostIndex(bad, 4), (err: Error) => isError(err, 'HostNotFoundError'), bad)
    }
  })

  it('tells overlapping IPv4 prefixes apart', () => {
    assert.equal(prefixesOverlap('10.77.0.0/16', '10.77.3.0/24'), true)
    assert.equal(prefixesOverlap('10.77.3.5/32', '10.77.3.0/24'), true)
    assert.equal(prefixesOverlap('10.0.0.0/8', '10.77.3.0/24'), true)
    assert.equal(prefixesOverlap('192.0.2.0/24', '10.77.3.0/24'), false)
    assert.equal(prefixesOverlap('10.77.4.0/24', '10.77.3.0/24'), false)
  })
})

describe('lab fault specs', () => {
  it('parses each fault with its moment', () => {
    assert.deepEqual(parseFault('kill h3 at 20MB'), { action: { kind: 'kill', host: 'h3' }, at: { bytes: 20e6 }, spec: 'kill h3 at 20MB' })
    assert.deepEqual(parseFault('link h2 down at 2s').action, { kind: 'link', host: 'h2', state: 'down' })
    assert.deepEqual(parseFault('partition h1,h2 h3 at 500ms'), { action: { kind: 'partition', hosts: ['h1', 'h2', 'h3'] }, at: { ms: 500 }, spec: 'partition h1,h2 h3 at 500ms' })
    assert.deepEqual(parseFault('heal at 8s').at, { ms: 8000 })
    assert.deepEqual(parseFault('kill origin').at, { ms: 0 }, 'without "at": at once')
  })

  it('refuses what is not a fault with FaultSpecError', () => {
    for (const bad of ['explode h1', 'kill', 'kill h1 h2', 'link h1 sideways', 'heal at 5MB', 'kill h1 at soon', 'kill h1 at 5s 6s', 'x'.repeat(300)]) {
      assert.throws(() => parseFault(bad), (err: Error) => isError(err, 'FaultSpecError'), bad)
    }
  })
})

describe('lab metrics', () => {
  it('sums a metric over its label sets, and tells a metric from one whose name it prefixes', () => {
    const text = [
      '# HELP provenir_bitswap_peers peers',
      'provenir_bitswap_peers 3',
      'provenir_bitswap_peers_total 99',
      'provenir_bitswap_wantlist_size{session="a b}c"} 4',
      'provenir_bitswap_wantlist_size{session="d"} 5 1700000000000'
    ].join('\n')
    assert.equal(prometheusValue(text, 'provenir_bitswap_peers'), 3)
    assert.equal(prometheusValue(text, 'provenir_bitswap_wantlist_size'), 9)
    assert.equal(prometheusValue(text, 'provenir_missing'), undefined)
  })

  it('sums only the series with a label when given one, whatever its other labels and their order', () => {
    const text = [
      'provenir_bulk_events_total{event="block"} 139',
      'provenir_bulk_events_total{event="blocks"} 1000',
      'provenir_bulk_events_total{peer="x, event=\\"block\\"",event="redirect"} 154',
      'provenir_bulk_events_total{event="redirect",peer="y"} 6',
      'provenir_bulk_events_total 7'
    ].join('\n')
    assert.equal(prometheusValue(text, 'provenir_bulk_events_total', 'event="block"'), 139)
    assert.equal(prometheusValue(text, 'provenir_bulk_events_total', 'event="redirect"'), 160)
    assert.equal(prometheusValue(text, 'provenir_bulk_events_total', 'event="dont-have"'), undefined)
    assert.equal(prometheusValue(text, 'provenir_bulk_events_total'), 1306)
  })
})
