// Interface text: Chinese by default, English by a toggle kept in localStorage.
const TEXT = {
  "app.title": ["网格化管理", "Grid management"],
  "lang.switch": ["English", "中文"],
  "logout": ["退出", "Sign out"],
  "login.username": ["用户名", "Username"],
  "login.password": ["密码", "Password"],
  "login.submit": ["登录", "Sign in"],
  "login.failed": ["登录失败：{msg}", "Sign-in failed: {msg}"],
  "role.admin": ["管理员", "Administrator"],
  "role.district_planner": ["区规划员", "District planner"],
  "role.facility_planner": ["设施规划员", "Facility planner"],
  "role.grid_leader": ["网格长", "Grid leader"],
  "role.grid_worker": ["网格员", "Grid worker"],
  "role.viewer": ["只读用户", "Viewer"],
  "libs.missing": ["前端库未安装：请在 web/ 目录运行 npm ci（make demo 会自动完成）", "Front-end libraries are missing: run npm ci in web/ (make demo does)"],
  "not.available": ["此功能的接口尚未上线（{path}）", "This feature's API is not available yet ({path})"],
  "loading": ["加载中…", "Loading…"],
  "households": ["户数", "Households"],
  "residents": ["人口", "Residents"],
  "buildings": ["楼栋", "Buildings"],
  "code": ["编码", "Code"],
  "name": ["名称", "Name"],
  "four_limits": ["四至", "Boundaries (四至)"],
  "version": ["版本", "Version"],
  "history": ["变更历史", "History"],
  "reason": ["原因", "Reason"],
  "legend.households": ["网格户数（{min}–{max}）", "Households per grid ({min}–{max})"],
  "legend.under": ["少于 {min}", "under {min}"],
  "legend.ok": ["{min}–{max}", "{min}–{max}"],
  "legend.over": ["多于 {max}", "over {max}"],
  "planner.title": ["区规划：社区与网格", "District planning: communities and grids"],
  "planner.community": ["社区", "Community"],
  "planner.suggest": ["生成网格划分建议", "Suggest grids"],
  "planner.seed": ["随机种子", "Seed"],
  "planner.running": ["正在计算：{stage}", "Computing: {stage}"],
  "planner.plan": ["方案 {id}", "Plan {id}"],
  "planner.compare": ["与现行网格对比", "Compared with the current grids"],
  "planner.suggested": ["建议网格", "Suggested grid"],
  "planner.moves": ["将调整 {b} 栋楼、{h} 户", "{b} buildings and {h} households would move"],
  "planner.infeasible": ["无法满足户数范围的区域", "Areas no grid in range can fit"],
  "planner.allow_out": ["允许超出户数范围（记入原因）", "Allow units outside the bounds (recorded)"],
  "planner.adopt": ["采用此方案", "Adopt this plan"],
  "planner.adopted": ["方案 {id} 已采用：{n} 个网格", "Plan {id} adopted: {n} grids"],
  "planner.reason_needed": ["请填写原因", "Give a reason"],
  "planner.edit": ["绘制修改边界", "Redraw boundary"],
  "planner.save_shape": ["保存边界", "Save boundary"],
  "planner.cancel": ["取消", "Cancel"],
  "planner.saved": ["已保存为第 {v} 版", "Saved as version {v}"],
  "planner.findings": ["拓扑检查", "Topology findings"],
  "planner.no_findings": ["无拓扑问题", "No topology findings"],
  "planner.move": ["移动楼栋到相邻网格", "Move buildings to a bordering grid"],
  "planner.move_hint": ["在地图上点击本网格的楼栋以选择", "Click buildings of this grid on the map to select them"],
  "planner.move_to": ["目标网格", "Target grid"],
  "planner.move_do": ["移动所选楼栋", "Move selected buildings"],
  "planner.selected": ["已选 {n} 栋", "{n} selected"],
  "planner.click_unit": ["点击地图上的网格查看详情", "Click a grid on the map for its details"],
  "worker.title": ["我的网格", "My grids"],
  "worker.key": ["重点人群", "Key residents"],
  "worker.elderly": ["60岁以上老人", "Aged 60+"],
  "worker.children": ["14岁以下儿童", "Children 0–14"],
  "worker.party": ["党员", "Party members"],
  "worker.floating": ["流动人口", "Floating residents"],
  "worker.incidents": ["待办事件", "Open incidents"],
  "worker.no_incidents": ["暂无待办事件", "No open incidents"],
  "worker.deadline": ["时限", "Deadline"],
  "worker.patrols": ["本周巡查", "This week's patrols"],
  "worker.uncovered": ["本周未巡查楼栋：{n}", "Buildings not patrolled this week: {n}"],
  "worker.report": ["上报事件", "Report an incident"],
  "worker.report_hint": ["点击地图选择事件位置", "Click the map where the incident is"],
  "worker.category": ["事件类别", "Category"],
  "worker.description": ["描述", "Description"],
  "worker.urgent": ["紧急", "Urgent"],
  "worker.submit": ["提交", "Submit"],
  "worker.reported": ["已上报事件 {id}，派至 {grid}", "Incident {id} reported, routed to {grid}"],
  "worker.pick_point": ["请先在地图上点击位置", "Click the map first"],
  "worker.building": ["楼栋 {id}", "Building {id}"],
  "worker.residents_of": ["{what}（{n} 人）", "{what} ({n} people)"],
  "facility.title": ["设施规划：步行覆盖", "Facility planning: walking coverage"],
  "facility.type": ["设施类型", "Facility type"],
  "facility.level": ["生活圈", "Life circle"],
  "facility.all_levels": ["全部", "All"],
  "facility.radius": ["服务半径 {r} 米", "Service radius {r} m"],
  "facility.no_run": ["尚无覆盖计算结果", "No coverage run yet"],
  "facility.run": ["计算覆盖", "Compute coverage"],
  "facility.covered": ["覆盖目标人口 {c} / {t}（{p}%）", "Target population covered {c} / {t} ({p}%)"],
  "facility.gaps": ["覆盖缺口（按未覆盖目标人口排序）", "Gaps (by uncovered target population)"],
  "facility.whatif": ["假设新增设施", "What if: add a facility"],
  "facility.whatif_hint": ["点击地图放置新设施", "Click the map to place a new facility"],
  "facility.whatif_result": ["覆盖目标人口：{b} → {a}（+{d}），新增覆盖楼栋 {g}", "Target population covered: {b} → {a} (+{d}); buildings gaining {g}"],
  "facility.site": ["选址建议", "Siting suggestions"],
  "facility.site_k": ["新增数量", "New sites"],
  "facility.isochrones": ["显示步行等时圈", "Show walking isochrones"],
  "facility.distance": ["至最近设施步行距离", "Walk to the nearest facility"],
  "facility.within": ["半径内", "within radius"],
  "facility.beyond": ["超出半径", "beyond radius"],
  "facility.none": ["搜索范围内无设施", "none within reach"],
  "viewer.title": ["浏览", "Browse"],
};

export function lang() {
  return localStorage.getItem("wangge.lang") === "en" ? "en" : "zh";
}

export function t(key, vars = {}) {
  const entry = TEXT[key];
  let s = entry ? entry[lang() === "en" ? 1 : 0] : key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function applyText(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

export function installToggle(onChange) {
  for (const button of document.querySelectorAll(".lang-toggle")) {
    button.addEventListener("click", () => {
      localStorage.setItem("wangge.lang", lang() === "en" ? "zh" : "en");
      applyText();
      if (onChange) onChange();
    });
  }
  applyText();
}
