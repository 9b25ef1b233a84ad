#include "batch.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "pool.hpp"

namespace qml {
namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

std::string at(const char* name, std::size_t index) {
  return std::string(name) + "[" + std::to_string(index) + "]";
}

void check_ranges(const Span<std::int64_t>& starts, std::size_t limit, const char* name) {
  if (starts.size == 0) fail(std::string(name) + " is empty; it needs a leading 0");
  if (starts[0] != 0) fail(at(name, 0) + " must be 0");
  for (std::size_t i = 1; i < starts.size; ++i)
    if (starts[i] < starts[i - 1] || std::uint64_t(starts[i]) > limit)
      fail(at(name, i) + " = " + std::to_string(starts[i]) + " is out of order or past " +
           std::to_string(limit));
}

void check_matrix(const Batch& b, std::int64_t offset, std::int64_t targets, const std::string& where) {
  const std::uint64_t dim = std::uint64_t(1) << targets;
  if (offset < 0 || std::uint64_t(offset) + dim * dim > b.matrices.size)
    fail(where + ": matrix offset " + std::to_string(offset) + " lies outside matrices");
}

void check_matrix_source(const Batch& b, std::size_t program, std::int64_t op, const std::int64_t* f) {
  const std::size_t num_terms = b.terms.size / kNumTermFields;
  if (f[kNumKraus] < 0 || f[kNumKraus] > kMaxKraus || (f[kMixture] != 0 && f[kMixture] != 1) ||
      (f[kNumKraus] == 0 && f[kMixture] != 0))
    fail(at("ops", op) + ": " + std::to_string(f[kNumKraus]) + " Kraus operators (mixture " +
         std::to_string(f[kMixture]) + "); a channel takes 1 to " + std::to_string(kMaxKraus));
  if (f[kNumKraus] > 0) {
    if (f[kNumControls] != 0 || f[kTermStart] >= 0)
      fail(at("ops", op) + ": a noise channel takes no controls and no terms");
    const std::int64_t size = std::int64_t(1) << (2 * f[kNumTargets]);
    for (std::int64_t k = 0; k < f[kNumKraus]; ++k)
      check_matrix(b, f[kMatrixOffset] + k * size, f[kNumTargets], at("ops", op));
    return;
  }
  if (f[kTermStart] < 0) {
    check_matrix(b, f[kMatrixOffset], f[kNumTargets], at("ops", op));
    return;
  }
  if (f[kNumTerms] < 1 || std::uint64_t(f[kTermStart] + f[kNumTerms]) > num_terms)
    fail(at("ops", op) + ": terms out of range");
  std::int64_t step = 0;
  for (std::int64_t t = f[kTermStart]; t < f[kTermStart] + f[kNumTerms]; ++t) {
    const std::int64_t* term = b.terms.data + t * kNumTermFields;
    const bool first = t == f[kTermStart];
    if ((first && term[kStep] != 0) || (!first && term[kStep] != step && term[kStep] != step + 1) ||
        term[kStep] >= kMaxSteps)
      fail(at("terms", t) + ": steps must count up from 0, below " + std::to_string(kMaxSteps));
    step = term[kStep];
    if (term[kPhaseColumn] < -1 || term[kPhaseColumn] >= b.program_phases[program])
      fail(at("terms", t) + ": phase column " + std::to_string(term[kPhaseColumn]) +
           " out of range");
    if (term[kPlace] < -1 || term[kPlace] >= f[kNumTargets])
      fail(at("terms", t) + ": place " + std::to_string(term[kPlace]) + " out of range");
    check_matrix(b, term[kTermMatrix], term[kPlace] < 0 ? f[kNumTargets] : 1, at("terms", t));
  }
}

void check_programs(const Batch& b) {
  if (b.terms.size % kNumTermFields) fail("terms must have " + std::to_string(kNumTermFields) + " columns");
  if (b.program_phases.size != b.num_programs()) fail("program_phases must have one entry per program");
  if (b.ops.size % kNumOpFields) fail("ops must have " + std::to_string(kNumOpFields) + " columns");
  const std::size_t num_ops = b.ops.size / kNumOpFields;
  if (b.program_ops.size != b.num_programs() + 1)
    fail("program_ops must have one entry more than program_qubits");
  check_ranges(b.program_ops, num_ops, "program_ops");
  for (std::size_t p = 0; p < b.num_programs(); ++p) {
    const std::int32_t width = b.program_qubits[p];
    if (width < 0 || width > kMaxRegisterQubits)
      fail(at("program_qubits", p) + " = " + std::to_string(width) + " is out of range");
    for (std::int64_t op = b.program_ops[p]; op < b.program_ops[p + 1]; ++op) {
      const std::int64_t* f = b.ops.data + op * kNumOpFields;
      const std::int64_t targets = f[kNumTargets], controls = f[kNumControls];
      if (targets < 1 || targets > kMaxTargets || controls < 0 || targets + controls > width)
        fail(at("ops", op) + ": " + std::to_string(targets) + " targets and " +
             std::to_string(controls) + " controls on a program of " + std::to_string(width) +
             " qubits");
      if (f[kQubitStart] < 0 || std::uint64_t(f[kQubitStart] + targets + controls) > b.op_qubits.size)
        fail(at("ops", op) + ": qubits past the end of op_qubits");
      if (f[kControlValues] < 0 || f[kControlValues] >= (std::int64_t(1) << controls))
        fail(at("ops", op) + ": control values " + std::to_string(f[kControlValues]) +
             " do not fit " + std::to_string(controls) + " controls");
      check_matrix_source(b, p, op, f);
      std::uint64_t seen = 0;
      for (std::int64_t q = 0; q < targets + controls; ++q) {
        const std::int32_t qubit = b.op_qubits[f[kQubitStart] + q];
        if (qubit < 0 || qubit >= width)
          fail(at("ops", op) + ": qubit " + std::to_string(qubit) + " outside a program of " +
               std::to_string(width) + " qubits");
        if ((seen >> qubit) & 1) fail(at("ops", op) + ": qubit " + std::to_string(qubit) + " repeats");
        seen |= std::uint64_t(1) << qubit;
      }
    }
  }
}

void check_rows(const Batch& b) {
  const std::size_t num_pieces = b.pieces.size / kNumPieceFields;
  if (b.pieces.size % kNumPieceFields)
    fail("pieces must have " + std::to_string(kNumPieceFields) + " columns");
  if (b.row_pieces.size != b.num_rows() + 1)
    fail("row_pieces must have one entry more than row_qubits");
  check_ranges(b.row_pieces, num_pieces, "row_pieces");
  if (b.row_opset.size != b.num_rows()) fail("row_opset must have one entry per row");
  const std::size_t num_terms = b.term_coefs.size;
  if (b.term_masks.size != 2 * num_terms) fail("term_masks must be [num_terms, 2]");
  if (b.num_operators && (b.opset_terms.size - 1) % b.num_operators)
    fail("opset_terms must hold num_opsets * num_operators + 1 entries");
  check_ranges(b.opset_terms, num_terms, "opset_terms");
  const std::size_t num_opsets = b.num_operators ? (b.opset_terms.size - 1) / b.num_operators : 0;
  for (std::size_t r = 0; r < b.num_rows(); ++r) {
    const std::int32_t width = b.row_qubits[r];
    if (width < 0 || width > kMaxRegisterQubits)
      fail(at("row_qubits", r) + " = " + std::to_string(width) + "; qml's core takes 0 to " +
           std::to_string(kMaxRegisterQubits) + " qubits");
    if (width == 0) continue;
    for (std::int64_t piece = b.row_pieces[r]; piece < b.row_pieces[r + 1]; ++piece) {
      const std::int64_t* f = b.pieces.data + piece * kNumPieceFields;
      if (f[kProgram] < 0 || std::uint64_t(f[kProgram]) >= b.num_programs())
        fail(at("pieces", piece) + ": program " + std::to_string(f[kProgram]) + " out of range");
      const std::int32_t program_width = b.program_qubits[f[kProgram]];
      if (f[kPositionStart] < 0 || std::uint64_t(f[kPositionStart] + program_width) > b.positions.size)
        fail(at("pieces", piece) + ": positions out of range");
      if (f[kPhaseBase] < 0 ||
          std::uint64_t(f[kPhaseBase] + b.program_phases[f[kProgram]]) > b.phases.size)
        fail(at("pieces", piece) + ": phases out of range");
      std::uint64_t seen = 0;
      for (std::int32_t q = 0; q < program_width; ++q) {
        const std::int32_t position = b.positions[f[kPositionStart] + q];
        if (position < 0 || position >= width || ((seen >> position) & 1))
          fail(at("pieces", piece) + ": position " + std::to_string(position) +
               " is outside a register of " + std::to_string(width) + " qubits or repeats");
        seen |= std::uint64_t(1) << position;
      }
    }
    if (!b.num_operators) continue;
    const std::int32_t opset = b.row_opset[r];
    if (opset < 0 || std::size_t(opset) >= num_opsets)
      fail(at("row_opset", r) + " = " + std::to_string(opset) + " out of range");
    const std::uint64_t limit = std::uint64_t(1) << width;
    for (std::int64_t t = b.opset_terms[opset * b.num_operators];
         t < b.opset_terms[(opset + 1) * b.num_operators]; ++t)
      if (b.term_masks[2 * t] >= limit || b.term_masks[2 * t + 1] >= limit)
        fail(at("term_masks", t) + " acts on qubits outside row " + std::to_string(r) + " of " +
             std::to_string(width) + " qubits");
  }
}

}  // namespace

void validate(const Batch& b) {
  check_programs(b);
  check_rows(b);
  for (std::size_t i = 0; i < b.matrices.size; ++i)
    if (!std::isfinite(b.matrices[i].real()) || !std::isfinite(b.matrices[i].imag()))
      fail(at("matrices", i) + " is not finite");
  for (std::size_t i = 0; i < b.phases.size; ++i)
    if (!std::isfinite(b.phases[i])) fail(at("phases", i) + " is not finite");
  for (std::size_t i = 0; i < b.term_coefs.size; ++i)
    if (!std::isfinite(b.term_coefs[i].real()) || !std::isfinite(b.term_coefs[i].imag()))
      fail(at("term_coefs", i) + " is not finite");
}

bool has_channels(const Batch& b) {
  std::vector<char> noisy(b.num_programs(), 0);
  bool any = false;
  for (std::size_t p = 0; p < b.num_programs(); ++p)
    for (std::int64_t op = b.program_ops[p]; op < b.program_ops[p + 1] && !noisy[p]; ++op)
      if (b.ops[op * kNumOpFields + kNumKraus] != 0) noisy[p] = any = true;
  for (std::size_t r = 0; any && r < b.num_rows(); ++r)
    for (std::int64_t piece = b.row_pieces[r]; b.row_qubits[r] && piece < b.row_pieces[r + 1]; ++piece)
      if (noisy[std::size_t(b.pieces[piece * kNumPieceFields + kProgram])]) return true;
  return false;
}

std::vector<cdouble> phasors_of(const Batch& b) {
  std::vector<cdouble> out(b.phases.size);
  const std::size_t count = b.phases.size, chunk = 4096;
  share_rows((count + chunk - 1) / chunk, [&](std::size_t c, int) {
    const std::size_t begin = c * chunk;
    host_kernels().phasors(b.phases.data + begin, std::min(count, begin + chunk) - begin,
                           out.data() + begin);
  });
  return out;
}

Gate placed_gate(const Batch& b, std::int64_t piece, std::int64_t op, int num_qubits) {
  const std::int64_t* p = b.pieces.data + piece * kNumPieceFields;
  const std::int64_t* f = b.ops.data + op * kNumOpFields;
  const std::int32_t* place = b.positions.data + p[kPositionStart];
  const std::int32_t* qubits = b.op_qubits.data + f[kQubitStart];
  Gate gate;
  gate.num_targets = int(f[kNumTargets]);
  for (int j = 0; j < gate.num_targets; ++j) gate.targets[j] = num_qubits - 1 - place[qubits[j]];
  for (std::int64_t j = 0; j < f[kNumControls]; ++j) {
    const index_t bit = index_t(1) << (num_qubits - 1 - place[qubits[gate.num_targets + j]]);
    gate.control_mask |= bit;
    if ((f[kControlValues] >> j) & 1) gate.control_bits |= bit;
  }
  if (f[kTermStart] < 0) gate.matrix = b.matrices.data + f[kMatrixOffset];
  return gate;
}

Gate gate_of(const Batch& b, std::int64_t piece, std::int64_t op, int num_qubits,
             cfloat* scratch, Step* steps, int* num_steps) {
  Gate gate = placed_gate(b, piece, op, num_qubits);
  *num_steps = 0;
  if (gate.matrix) return gate;
  const int dim = 1 << gate.num_targets;
  const int count = *num_steps = bind_steps(b, piece, op, steps);
  cdouble product[kMaxDim * kMaxDim];
  std::fill(product, product + dim * dim, cdouble(0.0));
  for (int i = 0; i < dim; ++i) product[i * dim + i] = 1.0;
  for (int j = 0; j < count; ++j) multiply_left(steps[j], false, product, dim);
  for (int k = 0; k < dim * dim; ++k) scratch[k] = cfloat(product[k]);
  gate.matrix = scratch;
  return gate;
}

int bind_steps(const Batch& b, std::int64_t piece, std::int64_t op, Step* steps) {
  const std::int64_t* f = b.ops.data + op * kNumOpFields;
  const int dim = 1 << f[kNumTargets];
  const cdouble* phasors = b.phasors + b.pieces[piece * kNumPieceFields + kPhaseBase];
  int count = 0;
  for (std::int64_t t = f[kTermStart]; t < f[kTermStart] + f[kNumTerms]; ++t) {
    const std::int64_t* term = b.terms.data + t * kNumTermFields;
    Step& step = steps[term[kStep]];
    const int size = term[kPlace] < 0 ? dim * dim : 4;
    if (term[kStep] == count) {
      step.place = int(term[kPlace]);
      std::fill(step.m, step.m + size, cdouble(0.0));
      ++count;
    }
    const cdouble factor = term[kPhaseColumn] < 0 ? cdouble(1.0) : phasors[term[kPhaseColumn]];
    const cfloat* matrix = b.matrices.data + term[kTermMatrix];
    for (int k = 0; k < size; ++k) step.m[k] += factor * cdouble(matrix[k]);
  }
  return count;
}

void multiply_left(const Step& s, bool transpose, cdouble* m, int dim) {
  if (s.place < 0) {
    cdouble out[kMaxDim * kMaxDim];
    for (int i = 0; i < dim; ++i)
      for (int j = 0; j < dim; ++j) {
        cdouble total = 0.0;
        for (int k = 0; k < dim; ++k)
          total += (transpose ? s.m[k * dim + i] : s.m[i * dim + k]) * m[k * dim + j];
        out[i * dim + j] = total;
      }
    std::copy(out, out + dim * dim, m);
    return;
  }
  const int bit = dim / 2 >> s.place;  // row bit of target `place`, most significant first
  const cdouble a = s.m[0], b = transpose ? s.m[2] : s.m[1], c = transpose ? s.m[1] : s.m[2],
                d = s.m[3];
  for (int r = 0; r < dim; ++r) {
    if (r & bit) continue;
    cdouble* top = m + r * dim;
    cdouble* bottom = m + (r | bit) * dim;
    for (int j = 0; j < dim; ++j) {
      const cdouble x = top[j], y = bottom[j];
      top[j] = a * x + b * y;
      bottom[j] = c * x + d * y;
    }
  }
}

void multiply_right(cdouble* m, const Step& s, bool conjugate, int dim) {
  auto entry = [&](int k) { return conjugate ? std::conj(s.m[k]) : s.m[k]; };
  if (s.place < 0) {
    cdouble out[kMaxDim * kMaxDim];
    for (int i = 0; i < dim; ++i)
      for (int j = 0; j < dim; ++j) {
        cdouble total = 0.0;
        for (int k = 0; k < dim; ++k) total += m[i * dim + k] * entry(k * dim + j);
        out[i * dim + j] = total;
      }
    std::copy(out, out + dim * dim, m);
    return;
  }
  const int bit = dim / 2 >> s.place;
  const cdouble a = entry(0), b = entry(1), c = entry(2), d = entry(3);
  for (int i = 0; i < dim; ++i) {
    cdouble* row = m + i * dim;
    for (int k = 0; k < dim; ++k) {
      if (k & bit) continue;
      const cdouble x = row[k], y = row[k | bit];
      row[k] = x * a + y * c;
      row[k | bit] = x * b + y * d;
    }
  }
}

}  // namespace qml
