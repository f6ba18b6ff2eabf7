// Campaign-level versus region-level process (issue 11): what the engine starts a pool's process for, in words,
// as bundle.yaml's campaign_process and region_process say.

/**
 * @param {string | undefined} processId - the pool's process (a participant's processRef, or the process itself)
 * @param {{campaignProcess?: string, regionProcess?: string}} manifest - the two processes bundle.yaml names
 * @returns {{level: "campaign" | "region" | "other", text: string}}
 */
export function processLevel(processId, { campaignProcess, regionProcess }) {
  if (processId && processId === campaignProcess) {
    return { level: "campaign", text: "年度流程 (campaign-level)：每个考核年度启动一次，汇总、审定并通报全部考核对象的结果"
      + "（bundle.yaml 的 campaign_process）" };
  }
  if (processId && processId === regionProcess) {
    return { level: "region", text: "地区流程 (region-level)：每个考核对象（如各县（市、区））各启动一份，从目标备案、自评、考核到整改"
      + "（bundle.yaml 的 region_process）" };
  }
  return { level: "other", text: "既非年度流程也非地区流程 (neither the campaign nor the region process of bundle.yaml)："
    + "引擎不会单独启动它" };
}
