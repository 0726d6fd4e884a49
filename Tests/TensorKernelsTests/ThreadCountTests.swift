import XCTest
@testable import TensorKernels

/// `DefaultThreadCount`: CLRP_THREADS, then OPENBLAS_NUM_THREADS, then the affinity mask, then
/// the online CPUs; unusable values ignored with a warning that names them.
final class ThreadCountTests: XCTestCase {
  func testOrderOfSources() {
    let resolve = { (env: [String: String], allowed: Int?) in
      DefaultThreadCount.resolve(environment: env, allowedCPUs: allowed, onlineCPUs: 64)
    }
    XCTAssertEqual(resolve(["CLRP_THREADS": "3", "OPENBLAS_NUM_THREADS": "5"], 8).count, 3)
    XCTAssertEqual(resolve(["OPENBLAS_NUM_THREADS": "5"], 8).count, 5)
    XCTAssertEqual(resolve([:], 8).count, 8)
    XCTAssertEqual(resolve([:], nil).count, 64)
    XCTAssertNil(resolve(["CLRP_THREADS": " 2 "], nil).warning)
  }

  func testUnusableValuesAreNamedAndSkipped() {
    for bad in ["0", "-2", "two", "", "1.5"] {
      let (count, warning) = DefaultThreadCount.resolve(environment: ["CLRP_THREADS": bad, "OPENBLAS_NUM_THREADS": "4"],
                                                        allowedCPUs: 8, onlineCPUs: 64)
      XCTAssertEqual(count, 4, "CLRP_THREADS=\(bad) falls through to OPENBLAS_NUM_THREADS")
      XCTAssertEqual(warning, "clrp: CLRP_THREADS=\(bad) is not a positive whole number of threads; ignored")
    }
    let (count, warning) = DefaultThreadCount.resolve(environment: ["OPENBLAS_NUM_THREADS": "lots"], allowedCPUs: 6, onlineCPUs: 64)
    XCTAssertEqual(count, 6)
    XCTAssertEqual(warning?.contains("OPENBLAS_NUM_THREADS=lots"), true)
  }

  func testLinuxCPUListsCount() {
    XCTAssertEqual(DefaultThreadCount.cpuCount(inList: "\t0-1"), 2)
    XCTAssertEqual(DefaultThreadCount.cpuCount(inList: "0-3,8,10-11"), 7)
    XCTAssertEqual(DefaultThreadCount.cpuCount(inList: "5"), 1)
    XCTAssertNil(DefaultThreadCount.cpuCount(inList: "3-1"))
    XCTAssertNil(DefaultThreadCount.cpuCount(inList: "a-b"))
    XCTAssertNil(DefaultThreadCount.cpuCount(inList: ""))
  }

  /// This process's affinity mask, read from /proc, agrees with the CPUs online or is fewer.
  func testAffinityMaskOfThisProcess() throws {
    #if os(Linux)
    let allowed = try XCTUnwrap(DefaultThreadCount.allowedCPUs())
    XCTAssertGreaterThanOrEqual(allowed, 1)
    XCTAssertLessThanOrEqual(allowed, DefaultThreadCount.onlineCPUs())
    #endif
  }
}
