// Rows for every table the Grafana dashboards and alert rules read, as sotpd would have written them over
// the last six hours (two days for flows_1m), with a few devices in the states the alert rules look for:
// core-rtr-1 healthy with SNMP, one interface admin-up/oper-down; edge-sw-2 slow (RTT > 200 ms) with an
// erroring interface; fw-branch-3 down for 40 minutes; ups-4 losing a third of its pings and never seen
// changing state. Times are relative to now(), so the tests' "last 6 hours" covers them.
enum GrafanaSeed {
    static let sql = """
        INSERT INTO devices (id, name, address, tags, icmp, snmp, vendor, model, os, os_version, sys_name) VALUES
            (1, 'core-rtr-1', '10.0.0.1', '{core}', true, true, 'Cisco', 'ASR1001-X', 'IOS-XE', '17.9.4', 'core-rtr-1.example.net'),
            (2, 'edge-sw-2', '10.0.0.2', '{access}', true, true, 'Juniper', 'EX3400-24T', 'Junos', '22.4R3', 'edge-sw-2'),
            (3, 'fw-branch-3', '10.0.1.3', '{branch}', true, false, NULL, NULL, NULL, NULL, NULL),
            (4, 'ups-4', '10.0.2.4', '{}', true, false, NULL, NULL, NULL, NULL, NULL);

        INSERT INTO device_events (time, device_id, address, kind, state, reason, if_index) VALUES
            (now() - interval '2 days', 1, '10.0.0.1', 'icmp', 'up', 'replies', NULL),
            (now() - interval '2 days', 1, '10.0.0.1', 'snmp', 'up', 'answered (sysUpTime 812.3 s)', NULL),
            (now() - interval '2 hours', 1, '10.0.0.1', 'reboot', 'up', 'sysUpTime fell behind the clock', NULL),
            (now() - interval '50 minutes', 1, '10.0.0.1', 'interface', 'down', 'ifOperStatus down', 3),
            (now() - interval '1 day', 2, '10.0.0.2', 'icmp', 'up', 'replies', NULL),
            (now() - interval '3 hours', 3, '10.0.1.3', 'icmp', 'up', 'replies', NULL),
            (now() - interval '40 minutes', 3, '10.0.1.3', 'icmp', 'down', '3 of 3 probes lost', NULL);

        -- ICMP every 30 s: 3 probes a cycle.
        INSERT INTO icmp_samples (time, device_id, address, sent, received, rtt_min_ms, rtt_avg_ms, rtt_max_ms, jitter_ms, loss_pct, icmp_errors, late)
        SELECT t, d.id, d.address, 3,
               CASE WHEN d.id = 3 AND t > now() - interval '40 minutes' THEN 0 WHEN d.id = 4 THEN 2 ELSE 3 END,
               r.base * 0.9, r.base, r.base * 1.3, r.base * 0.1,
               CASE WHEN d.id = 3 AND t > now() - interval '40 minutes' THEN 100 WHEN d.id = 4 THEN 33.333332 ELSE 0 END,
               CASE WHEN d.id = 3 AND t > now() - interval '40 minutes' THEN 3 ELSE 0 END, 0
        FROM generate_series(now() - interval '6 hours', now() - interval '30 seconds', interval '30 seconds') t
        CROSS JOIN devices d
        CROSS JOIN LATERAL (SELECT CASE
            WHEN d.id = 3 AND t > now() - interval '40 minutes' THEN NULL
            WHEN d.id = 1 THEN 1.8 + 0.4 * sin(extract(epoch FROM t) / 600)
            WHEN d.id = 2 THEN 240 + 30 * sin(extract(epoch FROM t) / 900)
            WHEN d.id = 3 THEN 14 + 2 * sin(extract(epoch FROM t) / 300)
            ELSE 22 END AS base) r;

        INSERT INTO snmp_interfaces (device_id, if_index, name, descr, alias, type, speed_bps, admin_status, oper_status) VALUES
            (1, 1, 'Gi0/0/0', 'GigabitEthernet0/0/0', 'uplink ISP-A', 6, 1000000000, 1, 1),
            (1, 2, 'Gi0/0/1', 'GigabitEthernet0/0/1', 'core LAN', 6, 1000000000, 1, 1),
            (1, 3, 'Gi0/0/2', 'GigabitEthernet0/0/2', 'uplink ISP-B', 6, 1000000000, 1, 2),
            (1, 4, 'Gi0/0/3', 'GigabitEthernet0/0/3', NULL, 6, 1000000000, 2, 2),
            (2, 501, 'ge-0/0/0', 'ge-0/0/0', 'to core-rtr-1', 6, 1000000000, 1, 1),
            (2, 502, 'ge-0/0/1', 'ge-0/0/1', 'printer floor 2', 6, 100000000, 1, 1);

        -- SNMP every 5 minutes.
        INSERT INTO snmp_interface_samples (time, device_id, if_index, if_name, in_octets, out_octets, in_errors, out_errors,
            in_discards, out_discards, oper_status, admin_status, speed_bps, hc_counters, in_bps, out_bps, in_pps, out_pps,
            in_errors_ps, out_errors_ps, in_discards_ps, out_discards_ps, in_util_pct, out_util_pct)
        SELECT t, i.device_id, i.if_index, i.name, n * 1000000, n * 400000, 0, 0, 0, 0, i.oper_status, i.admin_status, i.speed_bps, true,
               CASE WHEN i.oper_status = 1 THEN 2e8 + 1e8 * sin(extract(epoch FROM t) / 3600 + i.if_index) ELSE 0 END,
               CASE WHEN i.oper_status = 1 THEN 8e7 + 4e7 * cos(extract(epoch FROM t) / 3600 + i.if_index) ELSE 0 END,
               2.5e4, 1.1e4,
               CASE WHEN i.if_index = 502 THEN 3.5 ELSE 0 END, 0,
               CASE WHEN i.if_index = 502 THEN 0.4 ELSE 0 END, 0,
               CASE WHEN i.oper_status = 1 THEN 100 * (2e8 + 1e8 * sin(extract(epoch FROM t) / 3600 + i.if_index)) / i.speed_bps ELSE 0 END,
               CASE WHEN i.oper_status = 1 THEN 100 * (8e7 + 4e7 * cos(extract(epoch FROM t) / 3600 + i.if_index)) / i.speed_bps ELSE 0 END
        FROM generate_series(now() - interval '6 hours', now() - interval '1 minute', interval '5 minutes') WITH ORDINALITY AS g (t, n)
        CROSS JOIN snmp_interfaces i;

        INSERT INTO snmp_device_samples (time, device_id, cpu_pct, mem_used_bytes, mem_total_bytes, uptime_s, reachable, poll_ms, varbinds, error)
        SELECT t, d, 20 + 15 * sin(extract(epoch FROM t) / 1800 + d), 3000000000 + d * 100000000, 8000000000, 86400 + n * 300, true, 40 + d, 120, NULL
        FROM generate_series(now() - interval '6 hours', now() - interval '1 minute', interval '5 minutes') WITH ORDINALITY AS g (t, n)
        CROSS JOIN (VALUES (1), (2)) AS v (d);

        -- A host agent's pushes (POST /api/v1/ingest) every minute under core-rtr-1's name, as the Device
        -- dashboard joins them: CPU, memory and two mount points.
        INSERT INTO agent_metrics (time, host, metric, instance, value, source)
        SELECT t, 'core-rtr-1', m.metric, m.instance, m.value + 5 * sin(extract(epoch FROM t) / 900), '127.0.0.1'
        FROM generate_series(now() - interval '6 hours', now() - interval '1 minute', interval '1 minute') t
        CROSS JOIN (VALUES ('cpu_pct', '', 30.0), ('mem_used_bytes', '', 2.0e9), ('mem_total_bytes', '', 4.0e9),
                           ('disk_used_bytes', '/', 2.0e10), ('disk_total_bytes', '/', 5.0e10),
                           ('disk_used_bytes', '/var', 7.0e10), ('disk_total_bytes', '/var', 1.0e11)) AS m (metric, instance, value);

        INSERT INTO snmp_storage_samples (time, device_id, storage_index, descr, kind, size_bytes, used_bytes)
        SELECT t, 1, s.idx, s.descr, s.kind, s.size, s.size * s.frac
        FROM generate_series(now() - interval '6 hours', now() - interval '1 minute', interval '5 minutes') t
        CROSS JOIN (VALUES (1, 'Physical memory', 'ram', 8000000000::int8, 0.42), (31, 'bootflash:', 'fixedDisk', 16000000000::int8, 0.61)) AS s (idx, descr, kind, size, frac);

        INSERT INTO flow_exporters (exporter, observation_domain, protocol, packets, records, decode_errors, errors_by_kind,
            template_misses, sequence_gaps, sampling_rate, first_seen, last_seen) VALUES
            ('10.0.0.1', 256, 10, 182000, 5460000, 0, '{}', 2, 0, NULL, now() - interval '2 days', now() - interval '5 seconds'),
            ('10.0.0.2', 0, 65, 91000, 91000, 3, '{"truncated": 3}', 0, 12, 512, now() - interval '2 days', now() - interval '7 seconds');

        -- Raw flow records once a minute per conversation: IPFIX from the router, sampled sFlow from the switch.
        INSERT INTO flows (time, exporter, observation_domain, src_addr, dst_addr, src_port, dst_port, protocol, tos, tcp_flags,
            packets, bytes, in_if, out_if, sampling_rate, flow_start, flow_end, direction, flow_source)
        SELECT t, c.exporter, c.domain, c.src, c.dst, c.sport, c.dport, c.proto, 0, CASE WHEN c.proto = 6 THEN 24 ELSE 0 END,
               c.pkts, c.bytes, c.in_if, c.out_if, c.rate, t - interval '1 minute', t, 0, c.source
        FROM generate_series(now() - interval '5 hours', now() - interval '1 minute', interval '1 minute') t
        CROSS JOIN (VALUES
            ('10.0.0.1'::inet, 256, '192.168.10.20'::inet, '203.0.113.80'::inet, 51514, 443, 6, 900, 1200000, 2, 1, 1, 10),
            ('10.0.0.1', 256, '192.168.10.21', '198.51.100.53', 40123, 53, 17, 40, 3200, 2, 1, 1, 10),
            ('10.0.0.1', 256, '203.0.113.80', '192.168.10.20', 443, 51514, 6, 1500, 2100000, 1, 2, 1, 10),
            ('10.0.0.1', 256, '192.168.10.22', '192.0.2.10', 0, 0, 1, 10, 840, 2, 1, 1, 10),
            ('10.0.0.2', 0, '192.168.20.5', '192.168.10.20', 55000, 22, 6, 3, 2400, 501, 502, 512, 65),
            ('10.0.0.2', 0, '192.168.20.6', '192.168.30.9', 5353, 5353, 17, 1, 180, 502, 501, 512, 65)
        ) AS c (exporter, domain, src, dst, sport, dport, proto, pkts, bytes, in_if, out_if, rate, source);

        -- Per-minute aggregates (flow.aggregate = exporter, addresses, ports, protocol, interfaces), every
        -- 10 minutes over two days, already scaled by the sampling rate.
        INSERT INTO flows_1m (time, exporter, observation_domain, src_addr, dst_addr, src_port, dst_port, protocol, in_if, out_if, packets, bytes, flows)
        SELECT t, c.exporter, NULL, c.src, c.dst, NULL, c.dport, c.proto, c.in_if, c.out_if, c.pkts, c.bytes, c.n
        FROM generate_series(date_trunc('minute', now()) - interval '2 days', now() - interval '1 minute', interval '10 minutes') t
        CROSS JOIN (VALUES
            ('10.0.0.1'::inet, '192.168.10.20'::inet, '203.0.113.80'::inet, 443, 6, 2, 1, 5400, 7200000, 6),
            ('10.0.0.1', '192.168.10.21', '198.51.100.53', 53, 17, 2, 1, 240, 19000, 30),
            ('10.0.0.2', '192.168.20.5', '192.168.10.20', 22, 6, 501, 502, 9200, 7400000, 2)
        ) AS c (exporter, src, dst, dport, proto, in_if, out_if, pkts, bytes, n);

        -- Syslog: one message every 2 minutes from each router, each severity in turn, plus a crit just now.
        INSERT INTO syslog (time, received_at, source, facility, severity, hostname, app_name, proc_id, msg_id, message, parse_status, device_id, transport)
        SELECT t, t + interval '15 milliseconds', s.src, 23, (n % 8)::int2, s.host, s.app, '-', '-',
               s.app || ': message ' || n || CASE WHEN n % 8 = 3 THEN ' %LINK-3-UPDOWN: Interface Gi0/0/2, changed state to down' ELSE '' END,
               'rfc5424', s.dev, 'udp'
        FROM generate_series(now() - interval '6 hours', now() - interval '2 minutes', interval '2 minutes') WITH ORDINALITY AS g (t, n)
        CROSS JOIN (VALUES ('10.0.0.1'::inet, 'core-rtr-1', 'IOSXE', 1), ('10.0.0.2', 'edge-sw-2', 'mgd', 2), ('192.0.2.50', 'nas01', 'kernel', NULL)) AS s (src, host, app, dev);
        INSERT INTO syslog (time, received_at, source, facility, severity, hostname, app_name, message, parse_status, device_id, transport) VALUES
            (now() - interval '1 minute', now() - interval '1 minute', '10.0.0.2', 0, 2, 'edge-sw-2', 'chassisd',
             'CHASSISD_FRU_OFFLINE: PSU 1 taken offline: power supply failure', 'rfc5424', 2, 'tcp'),
            (now() - interval '30 seconds', now() - interval '30 seconds', '10.0.0.1', 4, 1, 'core-rtr-1', NULL,
             'it''s a test: quotes survive', 'rfc3164', 1, 'udp');

        INSERT INTO snmp_traps (time, received_at, source, version, community, trap_oid, trap_name, varbinds, pdu, uptime_cs, device_id)
        SELECT t, t, '10.0.0.1', 1, 'public', '1.3.6.1.6.3.1.1.5.3', 'IF-MIB::linkDown',
               '[{"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "IF-MIB::ifIndex.3", "type": "integer", "value": "3"}]', 'trap', 8120000 + n, 1
        FROM generate_series(now() - interval '5 hours', now() - interval '5 minutes', interval '20 minutes') WITH ORDINALITY AS g (t, n);
        INSERT INTO snmp_traps (time, received_at, source, version, trap_oid, varbinds, pdu, user_name, device_id) VALUES
            (now() - interval '3 minutes', now() - interval '3 minutes', '10.0.0.2', 3, '1.3.6.1.4.1.2636.4.1.1', '[]', 'inform', 'trapuser', 2);

        -- sotpd's counters every 60 s: totals since start, sotpd restarted 3 hours ago (counters from 0 again).
        INSERT INTO sotp_stats (time, metric, value)
        SELECT t, m.metric,
               CASE WHEN m.gauge THEN m.rate
                    ELSE m.rate * extract(epoch FROM t - CASE WHEN t >= now() - interval '3 hours' THEN now() - interval '3 hours' ELSE now() - interval '7 hours' END) END
        FROM generate_series(now() - interval '6 hours', now() - interval '20 seconds', interval '60 seconds') t
        CROSS JOIN (VALUES
            ('sink.rows_accepted', 2400.0, false), ('sink.rows_written', 2400.0, false), ('sink.rows_spooled', 3.0, false),
            ('sink.rows_replayed', 3.0, false), ('sink.rows_dropped', 0.01, false), ('sink.rows_dead_lettered', 0.001, false),
            ('sink.copy_failures', 0.002, false), ('sink.memory_bytes', 1048576.0, true), ('sink.spool_bytes', 4096.0, true),
            ('flow.datagrams', 300.0, false), ('flow.records', 2100.0, false), ('flow.aggregate_rows', 5.0, false),
            ('flow.kernel_drops', 0.5, false), ('flow.truncated', 0.0, false), ('flow.decode_errors', 0.01, false),
            ('flow.sequence_gaps', 0.2, false), ('syslog.messages', 12.0, false), ('syslog.udp_kernel_drops', 0.0, false),
            ('traps.received', 0.05, false), ('traps.udp_kernel_drops', 0.0, false), ('traps.malformed', 0.0, false),
            ('icmp.targets', 4.0, true), ('icmp.probes_sent', 0.4, false), ('icmp.replies_matched', 0.35, false),
            ('icmp.cycles_closed', 0.13, false), ('icmp.send_errors', 0.0, false), ('icmp.send_lateness_p99_us', 850.0, true),
            ('icmp.send_lateness_max_us', 4200.0, true), ('snmp.devices', 2.0, true), ('snmp.polls_running', 0.0, true),
            ('snmp.polls', 0.0066, false), ('snmp.polls_failed', 0.0, false), ('snmp.requests_sent', 0.2, false),
            ('snmp.retries', 0.01, false), ('snmp.timeouts', 0.001, false)
        ) AS m (metric, rate, gauge);

        INSERT INTO sotp.dead_letter (time, table_name, batch_id, row_index, sqlstate, error, copy_sql, row_data) VALUES
            (now() - interval '1 hour', 'syslog', 4711, 3, '22021', 'invalid byte sequence for encoding "UTF8": 0xc3 0x28',
             'COPY syslog (time, message) FROM STDIN (FORMAT binary)', '\\x0002'::bytea);
        """
}
