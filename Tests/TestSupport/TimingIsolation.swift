// Keeps the wire-timing tests apart from the tests that load the machine with agents of their own:
// a timing test waits until no such agent runs and holds others off while it measures; agents may run
// beside each other. (The ICMP wire tests compare medians to 0.2 ms; snmpd starts and snmpbulkwalks
// beside them were enough to miss that.) Not tied to threads: begin and end may run on different ones.
import Foundation
import Synchronization

public enum TimingIsolation {
    private static let state = Mutex<(heavy: Int, timing: Bool)>((0, false))

    /// A load-making helper starts (an snmpd); waits while a timing test measures.
    public static func beginLoad() {
        while !state.withLock({ s in
            guard !s.timing else { return false }
            s.heavy += 1
            return true
        }) { Thread.sleep(forTimeInterval: 0.05) }
    }

    public static func endLoad() { state.withLock { $0.heavy -= 1 } }

    /// A timing test starts: waits until no load-making helper runs and no other timing test measures.
    public static func beginTiming() {
        while !state.withLock({ s in
            guard !s.timing && s.heavy == 0 else { return false }
            s.timing = true
            return true
        }) { Thread.sleep(forTimeInterval: 0.05) }
    }

    public static func endTiming() { state.withLock { $0.timing = false } }
}
