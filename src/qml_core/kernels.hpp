// Gate kernels: a dense 2^k x 2^k matrix applied to k target qubits of a state
// vector, under optional controls. Compiled once per SIMD target (see simd.cpp);
// the loops are written so that the compiler vectorises the contiguous inner run.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qml {

using cfloat = std::complex<float>;
using cdouble = std::complex<double>;
using index_t = std::uint64_t;

constexpr int kMaxTargets = 4;
constexpr int kMaxDim = 1 << kMaxTargets;
constexpr int kMaxQubits = 32;

// One gate on a register of `num_qubits` qubits, in bit positions (bit 0 is the
// least significant index bit). targets[0] is the most significant factor of the
// matrix, as in Cirq. A control j is satisfied when bit controls[j] holds
// (control_values >> j) & 1.
struct Gate {
  int num_targets = 0;
  int targets[kMaxTargets] = {0, 0, 0, 0};
  index_t control_mask = 0;    // bits of all controls
  index_t control_bits = 0;    // their required values, as bits of the index
  const cfloat* matrix = nullptr;  // row-major, 2^k x 2^k
};

// The index bits of basis state `a` of a gate's targets (targets[0] its most
// significant bit): entry a of the gate's block at amplitude i is amplitude
// i + target_offset(gate, a). Kernels templated on the gate's size pass num_targets as
// a constant: with the count known only at run time, gcc compiled the lane kernels'
// loops about 1.6 times slower. Static, so each SIMD build compiles its own copy.
static inline index_t target_offset(const Gate& gate, int a, int num_targets) {
  index_t offset = 0;
  for (int t = 0; t < num_targets; ++t)
    if ((a >> (num_targets - 1 - t)) & 1) offset |= index_t(1) << gate.targets[t];
  return offset;
}

static inline index_t target_offset(const Gate& gate, int a) {
  return target_offset(gate, a, gate.num_targets);
}

// Rows of one program run together, one per SIMD lane: amplitude a of lane w is
// state[2 a kLanes + w] (real part) and state[(2 a + 1) kLanes + w] (imaginary part).
// Every gate then vectorises over the lanes, whichever qubits it acts on.
constexpr int kLanes = 16;

// One gate's matrix per lane, entry (i, j) of a 2^k x 2^k matrix at [i * 2^k + j].
struct LaneMatrix {
  alignas(64) float re[(1 << kMaxTargets) * (1 << kMaxTargets)][kLanes];
  alignas(64) float im[(1 << kMaxTargets) * (1 << kMaxTargets)][kLanes];
};

// One term of a parameterized op, bound for every lane: factor[w] E, where E is a
// 2 x 2 matrix on target number `place` of the op (or on all its targets, dim x dim,
// for place -1). Consecutive terms of one `step` are summed; the op is the product of
// its steps, the first step rightmost.
struct LaneTerm {
  alignas(64) float factor_re[kLanes];
  alignas(64) float factor_im[kLanes];
  const cfloat* matrix = nullptr;
  int step = 0;
  int place = -1;
  bool constant = false;  // no phase: factor 1, and no gradient is read for it
};

// The kernels one SIMD build provides.
struct Kernels {
  const char* name;
  // state <- M state (adjoint=false) or M^dagger state (adjoint=true). A diagonal M is
  // applied as a scaling, which reads and writes only the amplitudes whose entry is
  // not 1: a CZ is one complex product on a quarter of the state, where a dense 4 x 4
  // matrix is sixteen products per four amplitudes.
  void (*apply)(cfloat* state, int num_qubits, const Gate& gate, bool adjoint,
                bool parallel);
  // One step of the adjoint sweep: psi <- M^dagger psi and lambda <- M^dagger lambda,
  // and, when overlap is not null, overlap[i][j] += sum conj(lambda[i]) psi[j] over
  // the gate's satisfied indices, with lambda before and psi after the un-apply.
  // Without overlap, a diagonal M is a scaling, as in apply.
  void (*unapply_pair)(cfloat* psi, cfloat* lambda, int num_qubits, const Gate& gate,
                       cdouble* overlap, bool parallel);
  // Re(coef * sum_j conj(psi[j ^ x]) (-1)^popcount(j & z) psi[j]).
  double (*pauli_expectation)(const cfloat* psi, int num_qubits, index_t x_mask,
                              index_t z_mask, cdouble coef, bool parallel);
  // out[j ^ x] += weight * (-1)^popcount(j & z) psi[j].
  void (*add_pauli)(const cfloat* psi, int num_qubits, index_t x_mask,
                    index_t z_mask, cdouble weight, cfloat* out, bool parallel);
  // out[j] += (low[j mod 2^low_bits] + high[j >> low_bits]) psi[j]: a sum of diagonal
  // Pauli terms (Z strings) in one pass, its coefficients tabulated on the low and
  // the high index bits.
  void (*add_diagonal)(const cfloat* psi, int num_qubits, int low_bits, const cfloat* low,
                       const cfloat* high, cfloat* out, bool parallel);

  // low[l] = sum over h of |psi[h 2^low_bits + l]|^2, and high[h] = the same sum over
  // l: one pass gives every Z string within one half of the index bits its expectation.
  void (*probability_marginals)(const cfloat* psi, int num_qubits, int low_bits,
                                double* low, double* high, bool parallel);

  // The same on lane states (kLanes rows at once, on the calling thread). apply_lanes
  // takes a matrix per lane (gate.matrix is not read); the constant kernels apply
  // gate.matrix to every lane, diagonal ones as a scaling, and write `scratch`.
  void (*apply_lanes)(float* state, int num_qubits, const Gate& gate, const LaneMatrix& m);
  void (*apply_constant_lanes)(float* state, int num_qubits, const Gate& gate,
                               LaneMatrix& scratch);
  void (*unapply_constant_pair_lanes)(float* psi, float* lambda, int num_qubits,
                                      const Gate& gate, LaneMatrix& scratch);
  // sums[part * kLanes + w] = sum_j conj(psi[j ^ x]) (-1)^popcount(j & z) psi[j], lane w.
  void (*pauli_sums_lanes)(const float* psi, int num_qubits, index_t x_mask, index_t z_mask,
                           double* sums);
  // probability_marginals for every lane: low[l * kLanes + w] and high[h * kLanes + w].
  void (*probability_marginals_lanes)(const float* psi, int num_qubits, int low_bits,
                                      double* low, double* high);
  // out[j ^ x] += weight (-1)^popcount(j & z) psi[j], weight[part * kLanes + w] per lane.
  void (*add_pauli_lanes)(const float* psi, int num_qubits, index_t x_mask, index_t z_mask,
                          const float* weight, float* out);
  // state <- every lane's product of the steps of `terms` applied to its state, on the
  // gate's targets under its controls; `scratch` is overwritten.
  void (*apply_terms_lanes)(float* state, int num_qubits, const Gate& gate,
                            const LaneTerm* terms, int num_terms, LaneMatrix& scratch);
  // One parameterized op of the adjoint sweep, for every lane: psi <- M^dagger psi and
  // lambda <- M^dagger lambda for the op's M (the product of the steps of `terms`),
  // and totals[(t * 2 + part) * kLanes + w] = <lambda'| E_t |psi'> for each term t,
  // where psi' is the state before term t's step and lambda' the adjoint state after
  // it: d <lambda|M|psi> / d phase_t = i exp(i phase_t) totals[t] (see
  // add_phase_gradients in simulate.cpp, the same sums for one row). `scratch` and
  // `overlap` (2 kLanes 16^2 doubles) are overwritten.
  void (*unapply_terms_lanes)(float* psi, float* lambda, int num_qubits, const Gate& gate,
                              const LaneTerm* terms, int num_terms, LaneMatrix& scratch,
                              double* overlap, float* totals);
  // out[i] = exp(i phases[i]) for count phases, to within a few units in the last place.
  void (*phasors)(const double* phases, std::size_t count, cdouble* out);
};

// Threads the core runs on: all cores unless set (qml.executors.native.set_threads).
int thread_count();
void set_thread_count(int threads);

// The kernels in use: the fastest build this processor runs (AVX-512, AVX2 or the
// portable build) unless use_kernels chose another.
const Kernels& host_kernels();

// The names of the builds this processor can run, fastest first.
std::vector<std::string> runnable_kernels();

// Uses the build called `name` from now on; false (and no change) if this processor
// cannot run it. Call it only while no simulation runs.
bool use_kernels(const std::string& name);

// How the core splits one gate among threads: "openmp", or "core threads" in a build
// without OpenMP.
const char* threading();

}  // namespace qml
