// Words of the case loop (事件闭环): every status and action code of gis/cases/workflow.py (STATUSES, ACTIONS) in
// Chinese and English, and the codes that come with a case (source, urgency, area, event fields). The API sends
// codes; pages word them with statusWord / actionWord (an unknown code is shown as a plain "other" word, never raw).
// tests/web/test_field_words.py reads this file and checks every code of the Python tables has both words.
import { addText, lang, t } from "../i18n.js";

export const STATUS_WORDS = {
  reported: ["已上报", "Reported"],
  registered: ["已立案", "Registered"],
  rejected: ["不予立案", "Not registered"],
  dispatched: ["已派遣", "Dispatched"],
  handling: ["处置中", "Being handled"],
  feedback: ["已反馈", "Handled, awaiting verification"],
  verification: ["已核查", "Verified"],
  closed: ["已结案", "Closed"],
  evaluated: ["已评价", "Evaluated"],
  returned: ["已退回", "Returned"],
  extension_requested: ["延期申请中", "Extension requested"],
  extended: ["延期中", "Extended"],
  parked: ["挂账", "Parked"],
  escalated: ["已吹哨", "Escalated"],
  referred: ["已移交待认领", "Handed over, awaiting claim"],
  quick_fixed: ["随手办待核查", "Fixed on the spot, awaiting check"],
  summoned: ["已吹哨", "Departments summoned"],
  claimed: ["已认领", "Claimed"],
};

export const ACTION_WORDS = {
  report: ["上报", "Report"],
  register: ["立案", "Register"],
  reject: ["不予立案", "Do not register"],
  dispatch: ["派遣", "Dispatch"],
  accept: ["接单处置", "Take up"],
  return: ["退回", "Send back"],
  request_extension: ["申请延期", "Ask for more time"],
  approve_extension: ["批准延期", "Grant more time"],
  deny_extension: ["驳回延期", "Refuse more time"],
  resume: ["恢复处置", "Resume"],
  park: ["挂账", "Park"],
  unpark: ["解除挂账", "Unpark"],
  escalate: ["吹哨", "Escalate"],
  report_in: ["报到", "Report in"],
  hand_over: ["移交", "Hand over"],
  claim: ["认领", "Claim"],
  summon: ["吹哨", "Summon departments"],
  urge: ["催办", "Urge"],
  supervise: ["督办", "Supervise"],
  quick_fix: ["随手办", "Fix on the spot"],
  feedback: ["处置反馈", "Report as handled"],
  verify: ["核查", "Verify"],
  reopen: ["返工", "Send back for rework"],
  close: ["结案", "Close"],
  evaluate: ["评价", "Evaluate"],
};

const OTHER_WORDS = {
  // where a case came from (incident.source) and how urgent it is
  "case.source.patrol": ["巡查发现", "Found on patrol"],
  "case.source.hotline_12345": ["12345 热线", "12345 hotline"],
  "case.source.resident": ["居民反映", "Reported by a resident"],
  "case.source.video": ["视频监控", "Video"],
  "case.source.higher_level": ["上级交办", "From a higher level"],
  "case.source.open311": ["网上受理", "Filed online"],
  "case.source.visit": ["入户走访", "Household visit"],
  "case.urgency.normal": ["一般", "Normal"],
  "case.urgency.urgent": ["紧急", "Urgent"],
  "case.area.urban": ["城市", "Urban"],
  "case.area.rural": ["农村", "Rural"],
  "case.source.other": ["其他来源", "Other source"],
  "case.other_status": ["其他状态", "Other status"],
  "case.other_action": ["其他操作", "Other step"],
};

const entries = { ...OTHER_WORDS };
for (const [code, pair] of Object.entries(STATUS_WORDS)) entries[`case.status.${code}`] = pair;
for (const [code, pair] of Object.entries(ACTION_WORDS)) entries[`case.action.${code}`] = pair;
addText(entries);

const word = (table, code, fallback) => (table[code] ? table[code][lang() === "en" ? 1 : 0] : t(fallback));
export const statusWord = (code) => word(STATUS_WORDS, code, "case.other_status");
export const actionWord = (code) => word(ACTION_WORDS, code, "case.other_action");
export const sourceWord = (code) => (OTHER_WORDS[`case.source.${code}`] ? t(`case.source.${code}`) : t("case.source.other"));
