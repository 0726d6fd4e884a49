import COpenBLAS
import Foundation

/// Which OpenBLAS kernels run, and the better choice when OpenBLAS does not recognize the CPU.
///
/// OpenBLAS built with DYNAMIC_ARCH picks its kernels when it is loaded. Older builds (Debian
/// 12 ships 0.3.21) do not know recent Xeons and fall back to the generic `Prescott` (SSE3)
/// kernels, which run sgemm 2 to 3 times slower than the AVX-512 (`SkylakeX`) or AVX2
/// (`Haswell`) ones the CPU supports. The choice can only be made through the environment
/// variable `OPENBLAS_CORETYPE` before the library loads.
public enum BLASCore {
  /// The kernel family OpenBLAS chose, e.g. "SkylakeX", "Haswell", "Prescott".
  public static var current: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// The kernel family to request for this CPU when OpenBLAS fell back to a generic one;
  /// nil when its own choice stands (or the user set `OPENBLAS_CORETYPE`).
  public static func recommended(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    guard environment["OPENBLAS_CORETYPE"] == nil, ["Prescott", "Core2", "Nehalem", "unknown"].contains(current),
          let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) { return "SkylakeX" }
    if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
    return nil
  }
}
