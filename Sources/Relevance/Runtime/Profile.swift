import Dispatch
import Foundation

/// Time per op kind, collected when the environment sets `CLRP_PROFILE=1` and printed to
/// stderr at exit; for finding where a plan spends its time.
final class Profile: @unchecked Sendable {
  static let shared: Profile? = ProcessInfo.processInfo.environment["CLRP_PROFILE"] == "1" ? Profile() : nil

  private var nanoseconds: [String: UInt64] = [:]
  private let lock = NSLock()

  private init() {
    atexit {
      guard let profile = Profile.shared else { return }
      let total = profile.nanoseconds.values.reduce(0, +)
      for (name, ns) in profile.nanoseconds.sorted(by: { $0.value > $1.value }) {
        FileHandle.standardError.write(Data(String(format: "%-28@ %9.3f s  %5.1f %%\n", name as NSString, Double(ns) / 1e9, 100 * Double(ns) / Double(max(total, 1))).utf8))
      }
    }
  }

  func record(_ name: String, _ ns: UInt64) {
    lock.lock()
    nanoseconds[name, default: 0] += ns
    lock.unlock()
  }
}
