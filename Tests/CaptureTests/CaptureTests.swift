// The Linux shim and syscall layer: thread pinning and a sendmmsg/recvmmsg round trip on loopback.
import Capture
import CSOTPLinux
import Foundation
import Testing

@Suite("Capture syscall layer")
struct CaptureTests {
    @Test func pinsAThreadToEachCPU() throws {
        #expect(CPU.available >= 1)
        for cpu in 0..<CPU.available {
            let t = Thread {
                do {
                    try CPU.pinCurrentThread(to: cpu)
                    #expect(sotp_current_cpu() == Int32(cpu))
                } catch {
                    Issue.record("pin to \(cpu): \(error)")
                }
            }
            t.start()
            while !t.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(throws: Errno.self) { try CPU.pinCurrentThread(to: 4096) }
    }

    @Test func sendmmsgAndRecvmmsgMoveABatchOverLoopback() throws {
        let rx = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        let tx = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(rx); close(tx) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(rx, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(rx, $0, &len) } }
        // Nothing queued yet: EAGAIN comes back as a value, not an error.
        var probe = [UInt8](repeating: 0, count: 16)
        let empty = try syscall { probe.withUnsafeMutableBytes { recv(rx, $0.baseAddress, 16, 0) } }
        guard case .wouldBlock = empty else { Issue.record("expected wouldBlock"); return }

        let count = 8
        var payloads = (0..<count).map { i in [UInt8](repeating: UInt8(i), count: 100 + i) }
        var iovs = [sotp_iovec](repeating: sotp_iovec(), count: count)
        var msgs = [sotp_mmsghdr](repeating: sotp_mmsghdr(), count: count)
        let sent: Int32 = withUnsafeMutablePointer(to: &addr) { ap in
            for i in 0..<count {
                payloads[i].withUnsafeMutableBytes { iovs[i] = sotp_iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
            }
            return iovs.withUnsafeMutableBufferPointer { iv in
                for i in 0..<count {
                    msgs[i].msg_hdr.msg_name = UnsafeMutableRawPointer(ap)
                    msgs[i].msg_hdr.msg_namelen = UInt32(len)
                    msgs[i].msg_hdr.msg_iov = iv.baseAddress! + i
                    msgs[i].msg_hdr.msg_iovlen = 1
                }
                return sotp_sendmmsg(tx, &msgs, UInt32(count), 0)
            }
        }
        #expect(sent == Int32(count))

        var buffers = [[UInt8]](repeating: [UInt8](repeating: 0, count: 2048), count: count)
        var rmsgs = [sotp_mmsghdr](repeating: sotp_mmsghdr(), count: count)
        var riovs = [sotp_iovec](repeating: sotp_iovec(), count: count)
        var got: Int32 = 0
        for _ in 0..<100 where got == 0 {
            for i in 0..<count {
                buffers[i].withUnsafeMutableBytes { riovs[i] = sotp_iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
            }
            got = riovs.withUnsafeMutableBufferPointer { iv in
                for i in 0..<count {
                    rmsgs[i].msg_hdr.msg_iov = iv.baseAddress! + i
                    rmsgs[i].msg_hdr.msg_iovlen = 1
                }
                return sotp_recvmmsg(rx, &rmsgs, UInt32(count), 0, nil)
            }
            if got <= 0 { got = 0; Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(got == Int32(count))
        for i in 0..<Int(got) {
            #expect(rmsgs[i].msg_len == UInt32(100 + i))
            #expect(buffers[i][0] == UInt8(i))
        }
    }
}
