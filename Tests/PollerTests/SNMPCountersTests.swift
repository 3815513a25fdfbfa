// Counters done right: Counter32 wraps accepted only when the rate fits the speed, Counter64 decreases
// and reboots (sysUpTime going back) giving no rate instead of a spike, sysUpTime's own 497-day wrap not
// taken for a reboot, ifCounterDiscontinuityTime, status-change and reachability events.
import Testing

@testable import Poller

@Suite("SNMP counters and rates")
struct SNMPCountersTests {
    static let t0: Int64 = 1_800_000_000_000_000

    static func sample(_ at: Int64, uptime: UInt32, _ ifs: [SNMPInterfaceSample]) -> SNMPDeviceSample {
        var s = SNMPDeviceSample(deviceID: 1, address: "127.0.0.1")
        s.timeMicros = at
        s.sysUpTime = uptime
        s.interfaces = ifs
        return s
    }

    static func iface(_ index: UInt32 = 1, speed: UInt32 = 1_000_000_000, in32: UInt32? = nil, in64: UInt64? = nil, oper: Int32 = 1, disc: UInt32 = 0) -> SNMPInterfaceSample {
        var i = SNMPInterfaceSample(index: index)
        i.descr = "eth\(index)"
        i.ifSpeed = speed
        i.inOctets32 = in32
        i.inOctets64 = in64
        i.operStatus = oper
        i.adminStatus = 1
        i.discontinuityTime = disc
        return i
    }

    @Test func counter32WrapFitsTheSpeed() {
        // 1 Gbit/s, 300 s: from 296 below the top to 1000 is 1296 bytes, a wrap.
        #expect(SNMPCounterMath.delta32(4_294_967_000, 1000, seconds: 300, maxPerSecond: 125_000_000)! == (1296, true))
        // 10 Mbit/s cannot move 4 GB in 300 s: a decrease there is a reset, not a wrap.
        #expect(SNMPCounterMath.delta32(3_000_000_000, 1000, seconds: 300, maxPerSecond: 1_250_000) == nil)
        // No speed known: a wrap only from the upper half to the lower half.
        #expect(SNMPCounterMath.delta32(4_000_000_000, 10, seconds: 300, maxPerSecond: nil)?.1 == true)
        #expect(SNMPCounterMath.delta32(1_000_000, 10, seconds: 300, maxPerSecond: nil) == nil)
        #expect(SNMPCounterMath.delta32(10, 20, seconds: 300, maxPerSecond: nil)! == (10, false))
    }

    @Test func counter32WrapGivesTheRightRate() {
        var st = SNMPDeviceState()
        _ = st.update(Self.sample(Self.t0, uptime: 1000, [Self.iface(in32: 4_294_000_000)]))
        let o = st.update(Self.sample(Self.t0 + 300_000_000, uptime: 31000, [Self.iface(in32: 33_032_704)]))
        // 967,296 + 33,032,704 = 34,000,000 bytes in 300 s.
        #expect(o.rates[0].inBps == 34_000_000.0 * 8 / 300)
        #expect(o.wraps == 1 && o.resets == 0)
    }

    @Test func counter32DecreaseTooFastForTheSpeedIsNoSpike() {
        var st = SNMPDeviceState()
        _ = st.update(Self.sample(Self.t0, uptime: 1000, [Self.iface(speed: 10_000_000, in32: 3_000_000_000)]))
        let o = st.update(Self.sample(Self.t0 + 300_000_000, uptime: 31000, [Self.iface(speed: 10_000_000, in32: 5000)]))
        #expect(o.rates[0].inBps == nil)
        #expect(o.resets == 1)
    }

    @Test func counter64DecreaseIsAReset() {
        var st = SNMPDeviceState()
        _ = st.update(Self.sample(Self.t0, uptime: 1000, [Self.iface(in32: 500, in64: 90_000_000_000)]))
        let o = st.update(Self.sample(Self.t0 + 300_000_000, uptime: 31000, [Self.iface(in32: 900, in64: 400)]))
        // The HC counter went down: no rate (and no fallback to the 32-bit one, which reset too).
        #expect(o.rates[0].inBps == nil)
        #expect(o.resets == 1)
        let next = st.update(Self.sample(Self.t0 + 600_000_000, uptime: 61000, [Self.iface(in32: 900, in64: 30_400)]))
        #expect(next.rates[0].inBps == 30_000.0 * 8 / 300)
    }

    @Test func rebootIsADiscontinuityAndAnEvent() {
        var st = SNMPDeviceState()
        _ = st.update(Self.sample(Self.t0, uptime: 8_640_000, [Self.iface(in64: 1_000_000_000)]))
        // The agent restarted 100 s ago: counters started again from small values.
        let o = st.update(Self.sample(Self.t0 + 300_000_000, uptime: 10_000, [Self.iface(in64: 5_000, oper: 2)]))
        #expect(o.rebooted)
        #expect(o.rates[0].inBps == nil)
        #expect(o.events.map(\.kind) == ["reboot"])
        #expect(o.events[0].reason == "sysUpTime was 86400.0 s, 300 s later it is 100.0 s: the agent restarted")
        let after = st.update(Self.sample(Self.t0 + 600_000_000, uptime: 40_000, [Self.iface(in64: 305_000, oper: 2)]))
        #expect(after.rates[0].inBps == 300_000.0 * 8 / 300)
        #expect(after.events.isEmpty)
    }

    @Test func uptimeWrapAfter497DaysIsNotAReboot() {
        #expect(!SNMPCounterMath.rebooted(prevUptime: 4_294_960_000, uptime: 22_704, seconds: 300))
        #expect(SNMPCounterMath.rebooted(prevUptime: 4_294_960_000, uptime: 10_000_000, seconds: 300))
        #expect(SNMPCounterMath.rebooted(prevUptime: 50_000, uptime: 100, seconds: 300))
        #expect(!SNMPCounterMath.rebooted(prevUptime: 50_000, uptime: 80_000, seconds: 300))
        // Restarted within the interval: the new uptime (60 s) passed the old one (5 s) but lags the clock.
        #expect(SNMPCounterMath.rebooted(prevUptime: 500, uptime: 6000, seconds: 300))
        // A few seconds of agent clock drift is not a restart.
        #expect(!SNMPCounterMath.rebooted(prevUptime: 500, uptime: 29_900, seconds: 300))
    }

    @Test func discontinuityTimeChangeSkipsThatInterfaceOnly() {
        var st = SNMPDeviceState()
        _ = st.update(Self.sample(Self.t0, uptime: 1000, [Self.iface(1, in64: 100), Self.iface(2, in64: 100)]))
        let o = st.update(Self.sample(Self.t0 + 10_000_000, uptime: 2000, [Self.iface(1, in64: 200, disc: 1500), Self.iface(2, in64: 200)]))
        #expect(o.rates[0].inBps == nil)
        #expect(o.rates[1].inBps == 80)
    }

    @Test func statusChangesAndReachabilityAreEvents() {
        var st = SNMPDeviceState()
        let first = st.update(Self.sample(Self.t0, uptime: 1000, [Self.iface(3, in64: 1)]))
        #expect(first.events == [SNMPDeviceEvent(kind: "snmp", up: true, ifIndex: nil, reason: "answered (sysUpTime 10.0 s)")])
        let down = st.update(Self.sample(Self.t0 + 1_000_000, uptime: 1100, [Self.iface(3, in64: 1, oper: 2)]))
        #expect(down.events == [SNMPDeviceEvent(kind: "interface", up: false, ifIndex: 3, reason: "eth3: operStatus up → down, adminStatus up")])
        var dead = SNMPDeviceSample(deviceID: 1, address: "127.0.0.1")
        dead.error = .timeout(attempts: 3)
        #expect(st.update(dead).events.map { "\($0.kind) \($0.up)" } == ["snmp false"])
        #expect(st.update(dead).events.isEmpty)
        let back = st.update(Self.sample(Self.t0 + 3_000_000, uptime: 1300, [Self.iface(3, in64: 1, oper: 2)]))
        #expect(back.events.map { "\($0.kind) \($0.up)" } == ["snmp true"])
    }

    @Test func speedPrefersHighSpeedWhenSaturated() {
        var i = SNMPInterfaceSample(index: 1)
        i.ifSpeed = UInt32.max
        i.highSpeed = 100_000
        #expect(i.speedBps == 100_000_000_000)
        i.ifSpeed = 1_000_000_000
        #expect(i.speedBps == 1_000_000_000)
    }
}
