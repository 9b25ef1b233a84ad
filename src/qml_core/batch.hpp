// A batch of compiled programs as flat arrays (see docs/native-core.md), and the
// checks that make every index in it safe to follow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels.hpp"

namespace qml {

// Columns of the op table, one row per op of a program.
enum OpField : int {
  kQubitStart = 0,   // first entry of the op's qubits in op_qubits: targets, then controls
  kNumTargets,       // 1 to kMaxTargets
  kNumControls,
  kControlValues,    // bit j: the value control j must hold
  kMatrixOffset,     // a constant op: its matrix, in complex entries into matrices
  kTermStart,        // a parameterized op: its first term; -1 for a constant op
  kNumTerms,
  kNumKraus,         // a noise channel: its number of Kraus operators; 0 for a gate
  kMixture,          // a channel whose K_k^dagger K_k are multiples of the identity: 1
  kNumOpFields
};

// A noise channel is an op with kNumKraus > 0 and no controls or terms: its Kraus
// operators K_0, K_1, ... are consecutive dim x dim matrices from kMatrixOffset. A row
// with channels is one trajectory: at each channel it applies K_k / sqrt(p_k) with
// probability p_k = |K_k psi|^2, drawn from the row's seed.
constexpr int kMaxKraus = 64;

// Columns of the term table. A parameterized op is the product of its steps, in
// order; a step is sum_m exp(i phase_m) E_m over its terms, with the phase read
// from the row's phase column (or 0 for column -1) and E_m a constant matrix: on
// all the op's targets (place -1), or 2 x 2 on the op's target number `place`.
enum TermField : int {
  kStep = 0,         // 0, 1, ...: consecutive terms of one step share it
  kPhaseColumn,
  kTermMatrix,       // complex entries into matrices
  kPlace,
  kNumTermFields
};

// Columns of the piece table: a row runs its pieces in order.
enum PieceField : int {
  kProgram = 0,
  kPhaseBase,        // the row's phases of this program start at phases[base]
  kPositionStart,    // program qubit i sits at register position positions[start + i]
  kNumPieceFields
};

constexpr int kMaxRegisterQubits = 30;
constexpr int kMaxSteps = 64;

template <class T>
struct Span {
  const T* data = nullptr;
  std::size_t size = 0;
  const T& operator[](std::size_t i) const { return data[i]; }
};

struct Batch {
  Span<std::int64_t> ops;            // [num_ops * kNumOpFields]
  Span<std::int32_t> op_qubits;      // program-local qubit positions
  Span<std::int64_t> program_ops;    // [num_programs + 1]: op ranges
  Span<std::int32_t> program_qubits; // [num_programs]: each program's width
  Span<std::int32_t> program_phases; // [num_programs]: phase columns per row
  Span<std::int64_t> terms;          // [num_terms * kNumTermFields]
  Span<cfloat> matrices;
  Span<double> phases;               // every row's phase columns, per piece
  Span<std::int32_t> row_qubits;     // [rows]: register width; 0 for a padding row
  Span<std::int64_t> row_pieces;     // [rows + 1]
  Span<std::int64_t> pieces;         // [num_pieces * kNumPieceFields]
  Span<std::int32_t> positions;      // register positions, 0 = most significant qubit
  std::size_t num_operators = 0;
  Span<std::int32_t> row_opset;      // [rows]
  Span<std::int64_t> opset_terms;    // [num_opsets * num_operators + 1]: term ranges
  Span<std::uint64_t> term_masks;    // [num_terms * 2]: x mask, z mask (index bits)
  Span<cdouble> term_coefs;          // [num_terms]: coefficient times i^(number of Ys)
  // exp(i phase) for every entry of phases; set by with_phasors before simulating.
  const cdouble* phasors = nullptr;

  std::size_t num_rows() const { return row_qubits.size; }
  std::size_t num_programs() const { return program_qubits.size; }
};

// Throws std::invalid_argument naming the first inconsistent array and index.
void validate(const Batch& batch);

// Whether a row of `batch` runs a program that holds a noise channel (after validate).
bool has_channels(const Batch& batch);

// exp(i phase) of every phase of `batch`, computed once per call on the core's threads;
// point batch.phasors at it before binding any step.
std::vector<cdouble> phasors_of(const Batch& batch);

// One bound step of a parameterized op: a dim x dim matrix (place -1) or a 2 x 2
// matrix on target number `place` of the op.
struct Step {
  int place = -1;
  cdouble m[kMaxDim * kMaxDim];
};

// Op `op` of piece `piece` on a register of `num_qubits` qubits: its targets and
// controls, and the matrix of a constant op (null for a parameterized one).
Gate placed_gate(const Batch& batch, std::int64_t piece, std::int64_t op, int num_qubits);

// The gate of op `op` of piece `piece`, on a register of `num_qubits` qubits. A
// parameterized op's steps are bound into `steps` (kMaxSteps of them; *num_steps
// says how many) and its matrix, their product, into `scratch` (kMaxDim^2 entries).
Gate gate_of(const Batch& batch, std::int64_t piece, std::int64_t op, int num_qubits,
             cfloat* scratch, Step* steps, int* num_steps);

// Binds the steps of parameterized op `op` for the row of `piece`; returns how many.
int bind_steps(const Batch& batch, std::int64_t piece, std::int64_t op, Step* steps);

// m <- s m (left) or m <- m s (right), for a step on a dim x dim matrix; with
// `transpose`, s^T is used, and with `conjugate`, conj(s).
void multiply_left(const Step& s, bool transpose, cdouble* m, int dim);
void multiply_right(cdouble* m, const Step& s, bool conjugate, int dim);

}  // namespace qml
