// emsync-gen-eval emotion: note density and key by requested valence and arousal (constant emotion, no cuts).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tools/gen-eval/musicality.h"
#include "tools/gen-eval/common.h"

namespace gen_eval {

int cmd_emotion(const Args& a) {
  const double seconds = a.seconds > 0 ? a.seconds : 30.0;
  Json out = header_json(a, "emotion");
  ModelInfo info = open_model(a, out);
  out["seconds"] = seconds;
  out["seeds"] = a.seeds;
  out["grid"] = Json::array_of(a.grid);
  struct Row {
    double v, a;
    int seed;
    MusicStats s;
  };
  std::vector<Row> rows;
  Json pieces = Json::array();
  for (double v : a.grid)
    for (double ar : a.grid)
      for (int s = 0; s < a.seeds; ++s) {
        GenRequest req = request_from_args(a, mu::SyncMode::None, a.seed * 1000 + s, seconds);
        req.valence = static_cast<float>(v);
        req.arousal = static_cast<float>(ar);
        Piece p = compose(info.model, req);
        MusicStats st = music_stats(piece_notes(p, false), 0.0, seconds);
        rows.push_back({v, ar, s, st});
        Json pj = stats_json(st);
        pj["valence"] = v;
        pj["arousal"] = ar;
        pj["seed"] = static_cast<double>(req.options.seed);
        pj["tokens"] = p.tokens.size();
        pieces.push(pj);
      }
  std::vector<double> req_a, dens, dens_inst, req_v, major;
  for (const auto& r : rows) {
    req_a.push_back(r.a);
    req_v.push_back(r.v);
    dens.push_back(r.s.notes_per_second);
    dens_inst.push_back(r.s.density_per_instrument);
    major.push_back(r.s.key.tonic >= 0 && r.s.key.major ? 1.0 : 0.0);
  }
  const double rho = spearman(req_a, dens), rho_inst = spearman(req_a, dens_inst);
  const double rho_v_major = spearman(req_v, major);

  Table ta{"Note density by requested arousal (sync none, constant emotion, mean over valences and seeds)",
           {"arousal", "pieces", "notes/s", "notes/s/instrument", "instruments"},
           {}};
  Json by_a = Json::array();
  for (double ar : a.grid) {
    std::vector<double> d, di, ni;
    for (const auto& r : rows)
      if (r.a == ar) {
        d.push_back(r.s.notes_per_second);
        di.push_back(r.s.density_per_instrument);
        ni.push_back(r.s.instruments);
      }
    ta.rows.push_back({fmt("%+.1f", ar), std::to_string(d.size()), fmt("%.2f", mean(d)),
                       fmt("%.2f", mean(di)), fmt("%.2f", mean(ni))});
    Json j = Json::object();
    j["arousal"] = ar;
    j["notes_per_second"] = mean(d);
    j["density_per_instrument"] = mean(di);
    j["instruments"] = mean(ni);
    by_a.push(j);
  }
  ta.print();
  Table tv{"Key finding (Krumhansl-Schmuckler, duration-weighted pitch classes) by requested valence",
           {"valence", "pieces", "major", "minor", "share major", "mean key r"},
           {}};
  Json by_v = Json::array();
  for (double v : a.grid) {
    int n = 0, maj = 0, minr = 0;
    std::vector<double> rs;
    for (const auto& r : rows)
      if (r.v == v) {
        ++n;
        if (r.s.key.tonic >= 0) {
          (r.s.key.major ? maj : minr)++;
          rs.push_back(r.s.key.r);
        }
      }
    const double share = (maj + minr) ? static_cast<double>(maj) / (maj + minr) : kNaN;
    tv.rows.push_back({fmt("%+.1f", v), std::to_string(n), std::to_string(maj), std::to_string(minr),
                       fmt_pct(share), fmt("%.2f", mean(rs))});
    Json j = Json::object();
    j["valence"] = v;
    j["pieces"] = n;
    j["major"] = maj;
    j["minor"] = minr;
    j["share_major"] = share;
    by_v.push(j);
  }
  tv.print();
  Table tg{"Notes/s per (valence row, arousal column)", {"valence \\ arousal"}, {}};
  for (double ar : a.grid) tg.header.push_back(fmt("%+.1f", ar));
  for (double v : a.grid) {
    std::vector<std::string> row{fmt("%+.1f", v)};
    for (double ar : a.grid) {
      std::vector<double> d;
      for (const auto& r : rows)
        if (r.v == v && r.a == ar) d.push_back(r.s.notes_per_second);
      row.push_back(fmt("%.2f", mean(d)));
    }
    tg.rows.push_back(row);
  }
  tg.print();
  Table ts{"Spearman correlations over " + std::to_string(rows.size()) + " pieces",
           {"pair", "rho"},
           {{"requested arousal vs notes/s", fmt("%.3f", rho)},
            {"requested arousal vs notes/s/instrument", fmt("%.3f", rho_inst)},
            {"requested valence vs major key (0/1)", fmt("%.3f", rho_v_major)}}};
  ts.print();
  out["spearman_arousal_density"] = rho;
  out["spearman_arousal_density_per_instrument"] = rho_inst;
  out["spearman_valence_major"] = rho_v_major;
  out["by_arousal"] = by_a;
  out["by_valence"] = by_v;
  out["pieces_detail"] = pieces;
  write_json(a, out);
  return 0;
}

}  // namespace gen_eval
