// Words of the community ledgers page (三张清单, 双报到, volunteers), zh and en. The API sends codes (need statuses,
// outcomes, sources, kinds; project statuses; provider and claimant kinds; reach reasons); this file words every one
// of them (tests/web/test_ledgers_page.py reads gis/ledgers.py and checks).
import { addText } from "../i18n.js";

export const NEED_STATUS = {
  open: ["待办", "Open"],
  matched: ["已对接", "Matched"],
  in_progress: ["服务中", "In progress"],
  closed: ["已办结", "Closed"],
  rejected: ["不予受理", "Rejected"],
};
export const OUTCOME = { met: ["已满足", "Met"], partly_met: ["部分满足", "Partly met"], unmet: ["未满足", "Not met"] };
export const NEED_SOURCE = {
  visit: ["入户走访", "Household visit"],
  staff: ["网格员登记", "Recorded by staff"],
  public_form: ["居民网上填报", "Resident's form"],
  open311: ["12345/Open311", "12345 / Open311"],
  import: ["批量导入", "Imported"],
};
export const PROJECT_STATUS = {
  planned: ["筹备中", "Planned"],
  active: ["实施中", "Active"],
  done: ["已完成", "Done"],
  cancelled: ["已取消", "Cancelled"],
};
export const PROVIDER_KIND = {
  unit: ["驻区单位", "Resident unit"],
  facility: ["公共设施", "Facility"],
  party_member: ["党员", "Party member"],
  volunteer: ["志愿者", "Volunteer"],
  other: ["其他", "Other"],
};
export const CLAIMANT_KIND = { unit: ["单位报到", "Unit reporting in"], party_member: ["党员报到", "Party member reporting in"] };
export const NEED_KIND = {
  elderly_meals: ["老年助餐", "Meals for elderly people"],
  after_school_care: ["课后托管（四点半课堂）", "After-school childcare"],
  parking: ["停车", "Parking"],
  ev_charging: ["电动车充电", "EV charging"],
  accessibility: ["无障碍设施", "Accessibility"],
  home_care: ["居家养老服务", "Home care for elderly people"],
  medical_help: ["就医帮扶", "Help with medical visits"],
  venue: ["活动场地", "A venue for activities"],
  employment: ["就业帮扶", "Help finding work"],
  other: ["其他", "Other"],
};
export const REACH_REASON = {
  resources_within_radius: ["步行{r}米内有可用资源", "Resources within {r} m on foot"],
  no_resource_within_radius: ["步行{r}米内无可用资源", "No resource within {r} m on foot"],
};

const words = {
  "role.unit_contact": ["单位联系人", "Unit contact"],
  "ledgers.title": ["社区三张清单", "Community ledgers"],
  "ledgers.back": ["返回", "Back"],
  "ledgers.community": ["社区", "Community"],
  "ledgers.print": ["打印", "Print"],
  "ledgers.export_xlsx": ["导出 Excel", "Export Excel"],
  "ledgers.export_csv": ["导出需求 CSV", "Export needs CSV"],
  "ledgers.generated": ["生成时间", "Generated"],
  "ledgers.heat": ["热力图", "Heat map"],
  "ledgers.needs": ["需求清单", "Needs"],
  "ledgers.resources": ["资源清单", "Resources"],
  "ledgers.projects": ["项目清单", "Projects"],
  "ledgers.footer": ["需求只记户数人数，不记姓名；联系电话已脱敏，查阅已记入审计日志。",
                     "Needs count households and people, never names; phones are masked and every read is audited."],
  "ledgers.none": ["暂无", "None yet"],
  "ledgers.no_community": ["没有可查看的社区", "No community to show"],
  "ledgers.error.unit_not_linked": ["您的账号尚未关联驻区单位，请联系系统管理员关联后再查看清单",
                                    "Your account is not linked to a unit yet: ask an administrator to link it"],
  "ledgers.fig.needs": ["需求", "Needs"],
  "ledgers.fig.open": ["待办需求", "Open needs"],
  "ledgers.fig.met": ["已满足需求", "Needs met"],
  "ledgers.fig.unserved": ["{r}米内无资源", "No resource within {r} m"],
  "ledgers.fig.resources": ["资源", "Resources"],
  "ledgers.fig.projects_done": ["已完成项目", "Projects done"],
  "ledgers.fig.claims": ["单位/党员报到", "Units / party members reporting in"],
  "ledgers.fig.hours": ["志愿服务时长（小时）", "Volunteer hours"],
  "ledgers.legend": ["圆点颜色表示需求状态，蓝色方块为资源，虚线连到步行500米内最近的资源；热力图按涉及人数加权",
                     "Dot colour: the need's status; blue squares: resources, a dashed line to the nearest within a "
                     + "500 m walk; heat weighted by people affected"],
  "ledgers.col.id": ["编号", "No."],
  "ledgers.col.kind": ["类型", "Kind"],
  "ledgers.col.title": ["需求", "Need"],
  "ledgers.col.grid": ["网格", "Grid"],
  "ledgers.col.affected": ["涉及户/人", "Households / people"],
  "ledgers.col.source": ["来源", "Source"],
  "ledgers.col.status": ["状态", "Status"],
  "ledgers.col.reach": ["步行500米内资源", "Resources within 500 m"],
  "ledgers.col.recorded": ["登记时间", "Recorded"],
  "ledgers.col.name": ["名称", "Name"],
  "ledgers.col.provider": ["提供方", "Provided by"],
  "ledgers.col.serves": ["可服务", "Serves"],
  "ledgers.col.available": ["开放时间", "When"],
  "ledgers.col.capacity": ["容量", "Capacity"],
  "ledgers.col.contact": ["联系人", "Contact"],
  "ledgers.col.project": ["项目", "Project"],
  "ledgers.col.dates": ["起止日期", "Dates"],
  "ledgers.col.claims": ["认领（单位/党员）", "Claimed (units / members)"],
  "ledgers.col.volunteers": ["志愿者/时长", "Volunteers / hours"],
  "ledgers.col.resources_used": ["使用资源", "Resources used"],
  "ledgers.col.outcome": ["成效", "Outcome"],
  "ledgers.any_kind": ["各类需求", "Any need"],
  "ledgers.nearest": ["{name}（{d}米）", "{name} ({d} m)"],
  "ledgers.exported": ["已导出 {file}", "Exported {file}"],
};
for (const [table, prefix] of [[NEED_STATUS, "need.status."], [OUTCOME, "need.outcome."], [NEED_SOURCE, "need.source."],
                               [PROJECT_STATUS, "project.status."], [PROVIDER_KIND, "resource.provider."],
                               [CLAIMANT_KIND, "claim.kind."], [NEED_KIND, "need.kind."],
                               [REACH_REASON, "reach.reason."]]) {
  for (const [code, pair] of Object.entries(table)) words[prefix + code] = pair;
}
addText(words);
