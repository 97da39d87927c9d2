// Every chart is Apache ECharts (canvas), with its accessible description turned on (and
// mark lines, which show annotations). A chart may say which point was clicked; since a
// canvas point cannot take the keyboard's focus, the screen offers the same through a table.
import { useEffect, useRef } from "react";
import * as echarts from "echarts/core";
import { BarChart, HeatmapChart, LineChart, SankeyChart } from "echarts/charts";
import { AriaComponent, GridComponent, LegendComponent, MarkLineComponent, TooltipComponent, VisualMapComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  HeatmapChart,
  LineChart,
  SankeyChart,
  AriaComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

/** A clicked point: its series' and its value's positions in the option. */
export interface ChartPoint {
  seriesIndex: number;
  dataIndex: number;
}

export function Chart({
  option,
  label,
  height = 320,
  onClick,
}: {
  option: echarts.EChartsCoreOption;
  label: string;
  height?: number;
  onClick?: (point: ChartPoint) => void;
}) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  // The latest handler, so the chart's one listener never calls a stale one.
  const clicked = useRef(onClick);
  useEffect(() => {
    clicked.current = onClick;
  }, [onClick]);
  useEffect(() => {
    if (!element.current) return;
    const instance = echarts.init(element.current);
    chart.current = instance;
    instance.on("click", (params) => {
      const { componentType, seriesIndex, dataIndex } = params as { componentType?: string; seriesIndex?: number; dataIndex?: number };
      // Mark lines (annotations) are clicked too: only a series' points are points.
      if (componentType !== "series" || seriesIndex == null || dataIndex == null) return;
      clicked.current?.({ seriesIndex, dataIndex });
    });
    const observer = new ResizeObserver(() => instance.resize());
    observer.observe(element.current);
    return () => {
      observer.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption(option, { notMerge: true });
  }, [option]);
  return <div ref={element} role="img" aria-label={label} data-testid="chart" style={{ width: "100%", height }} />;
}
